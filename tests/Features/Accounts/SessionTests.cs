using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Holdfast.Tests.Infrastructure;

namespace Holdfast.Tests.Features.Accounts;

public sealed class SessionTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    private TestApp App => fixture.App;
    private const string Password = "a long enough password";

    [Fact]
    public async Task I_can_list_my_sessions_and_revoke_another_one()
    {
        var email = await App.RegisterAsync(Password);
        var (phone, phoneTokens) = await App.LoginAsync(email, Password);
        var (laptop, laptopTokens) = await App.LoginAsync(email, Password);

        using var response = await laptop.GetAsync("/auth/sessions");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var list = JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsArray();
        Assert.Equal(3, list.Count); // registration, phone, laptop
        Assert.Single(list, s => s!["current"]!.GetValue<bool>());
        var phoneSession = list.Single(s => s!["session_id"]!.GetValue<string>() == Http.SessionOf(phoneTokens))!;

        await laptop.DeleteAsync($"/auth/sessions/{phoneSession["session_id"]}").ExpectAsync(HttpStatusCode.NoContent);
        await laptop.DeleteAsync($"/auth/sessions/{phoneSession["session_id"]}").ExpectAsync(HttpStatusCode.NotFound);

        await phone.PostAsJsonAsync("/auth/refresh", new { refresh_token = phoneTokens["refresh_token"]!.GetValue<string>() }).ExpectAsync(HttpStatusCode.Unauthorized);
        await laptop.PostAsJsonAsync("/auth/refresh", new { refresh_token = laptopTokens["refresh_token"]!.GetValue<string>() }).ExpectAsync(HttpStatusCode.OK);

        // Someone else cannot revoke my session.
        var (stranger, _) = await App.CustomerAsync();
        await stranger.DeleteAsync($"/auth/sessions/{Http.SessionOf(laptopTokens)}").ExpectAsync(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Changing_the_password_revokes_every_other_session()
    {
        var email = await App.RegisterAsync(Password);
        var (other, otherTokens) = await App.LoginAsync(email, Password);
        var (current, currentTokens) = await App.LoginAsync(email, Password);

        var wrong = await current.PostAsJsonAsync("/auth/password", new { current_password = "not it at all", new_password = "a brand new password" })
            .ExpectAsync(HttpStatusCode.BadRequest);
        Assert.True(wrong["errors"]!.AsObject().ContainsKey("current_password"));
        await current.PostAsJsonAsync("/auth/password", new { current_password = Password, new_password = "short" }).ExpectAsync(HttpStatusCode.BadRequest);

        await current.PostAsJsonAsync("/auth/password", new { current_password = Password, new_password = "a brand new password" })
            .ExpectAsync(HttpStatusCode.NoContent);

        await other.PostAsJsonAsync("/auth/refresh", new { refresh_token = otherTokens["refresh_token"]!.GetValue<string>() }).ExpectAsync(HttpStatusCode.Unauthorized);
        await current.PostAsJsonAsync("/auth/refresh", new { refresh_token = currentTokens["refresh_token"]!.GetValue<string>() }).ExpectAsync(HttpStatusCode.OK);
        using var anonymous = App.CreateClient();
        await anonymous.PostAsJsonAsync("/auth/login", new { email, password = Password }).ExpectAsync(HttpStatusCode.Unauthorized);
        await anonymous.PostAsJsonAsync("/auth/login", new { email, password = "a brand new password" }).ExpectAsync(HttpStatusCode.OK);
    }

}

using System.Net;
using System.Net.Http.Json;
using Holdfast.Tests.Infrastructure;

namespace Holdfast.Tests.Features.Accounts;

public sealed class AccountTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    private TestApp App => fixture.App;

    [Fact]
    public async Task Register_then_login_returns_a_token_the_api_accepts()
    {
        using var client = App.CreateClient();
        var email = $"ana{Guid.NewGuid():N}@example.com";
        var registered = await client.PostAsJsonAsync("/auth/register", new { email, password = "a long enough password", display_name = "Ana" })
            .ExpectAsync(HttpStatusCode.Created);
        Assert.Equal("customer", registered["role"]!.GetValue<string>());

        var login = await client.PostAsJsonAsync("/auth/login", new { email = email.ToUpperInvariant(), password = "a long enough password" })
            .ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("Bearer", login["token_type"]!.GetValue<string>());
        Assert.InRange(login["expires_in"]!.GetValue<int>(), 14 * 60, 15 * 60);

        client.DefaultRequestHeaders.Authorization = new("Bearer", login["access_token"]!.GetValue<string>());
        await client.GetAsync("/bookings/1").ExpectAsync(HttpStatusCode.NotFound);

        var hash = await App.DataSource.ScalarAsync<string>($"select password_hash from app_user where app_user_id = {registered["user_id"]}");
        Assert.DoesNotContain("a long enough password", hash);
        Assert.Equal(0x01, Convert.FromBase64String(hash)[0]); // PasswordHasher v3 format marker
    }

    [Fact]
    public async Task An_email_registers_once_whatever_its_case()
    {
        using var client = App.CreateClient();
        var email = $"bo{Guid.NewGuid():N}@example.com";
        await client.PostAsJsonAsync("/auth/register", new { email, password = "a long enough password" }).ExpectAsync(HttpStatusCode.Created);
        await client.PostAsJsonAsync("/auth/register", new { email = email.ToUpperInvariant(), password = "another long password" }).ExpectAsync(HttpStatusCode.Conflict);
    }

    [Theory]
    [InlineData("not-an-email", "a long enough password", "email")]
    [InlineData("a@b", "a long enough password", "email")]
    [InlineData("ok@example.com", "short", "password")]
    [InlineData(null, "a long enough password", "email")]
    [InlineData("ok@example.com", "qwertyuiop", "password")]
    [InlineData("ok@example.com", "aaaaaaaaaaaa", "password")]
    [InlineData("frederick@example.com", "frederick-2026!", "password")]
    public async Task Invalid_registrations_return_400_naming_the_field(string? email, string password, string field)
    {
        using var client = App.CreateClient();
        var problem = await client.PostAsJsonAsync("/auth/register", new { email, password }).ExpectAsync(HttpStatusCode.BadRequest);
        Assert.True(problem["errors"]!.AsObject().ContainsKey(field));
    }

    [Fact]
    public async Task Wrong_password_and_unknown_email_get_the_same_401()
    {
        using var client = App.CreateClient();
        var email = $"cy{Guid.NewGuid():N}@example.com";
        await client.PostAsJsonAsync("/auth/register", new { email, password = "a long enough password" }).ExpectAsync(HttpStatusCode.Created);

        var wrong = await client.PostAsJsonAsync("/auth/login", new { email, password = "not the password" }).ExpectAsync(HttpStatusCode.Unauthorized);
        var unknown = await client.PostAsJsonAsync("/auth/login", new { email = "nobody@example.com", password = "not the password" }).ExpectAsync(HttpStatusCode.Unauthorized);
        Assert.Equal(wrong["title"]!.GetValue<string>(), unknown["title"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_token_signed_with_another_key_is_rejected()
    {
        using var client = App.CreateClient();
        var (customer, _) = await App.CustomerAsync();
        var parts = customer.DefaultRequestHeaders.Authorization!.Parameter!.Split('.');
        client.DefaultRequestHeaders.Authorization = new("Bearer", $"{parts[0]}.{parts[1]}.{new string('A', 43)}");
        using var response = await client.GetAsync("/bookings/1");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task The_OpenAPI_document_describes_the_endpoints()
    {
        using var client = App.CreateClient();
        var document = await client.GetAsync("/openapi/v1.json").ExpectAsync(HttpStatusCode.OK);
        var paths = document["paths"]!.AsObject();
        foreach (var path in new[] { "/shows", "/shows/{showId}", "/shows/{showId}/seats", "/shows/{showId}/holds", "/holds/{holdId}", "/holds/{holdId}/booking", "/bookings/{bookingId}", "/auth/register", "/auth/login", "/shows/{showId}/seats/stream" })
        {
            Assert.True(paths.ContainsKey(path), $"missing {path}");
        }
    }
}

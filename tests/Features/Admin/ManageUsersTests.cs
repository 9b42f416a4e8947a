using System.Net;
using System.Net.Http.Json;
using Holdfast.Tests.Infrastructure;

namespace Holdfast.Tests.Features.Admin;

public sealed class ManageUsersTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    private TestApp App => fixture.App;

    [Fact]
    public async Task An_admin_sets_a_role_which_ends_the_accounts_sessions()
    {
        var (admin, adminId) = await App.AdminAsync();
        using var anonymous = App.CreateClient();
        var email = $"p{Guid.NewGuid():N}@example.com";
        var registered = await anonymous.PostAsJsonAsync("/auth/register", new { email, password = "a long enough password" }).ExpectAsync(HttpStatusCode.Created);
        var userId = registered["user_id"]!.GetValue<long>();

        var changed = await admin.PutAsJsonAsync($"/admin/users/{userId}/role", new { role = "organizer" }).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("organizer", changed["role"]!.GetValue<string>());

        // The old refresh token cannot mint a customer token any more; a new login carries the new role.
        await anonymous.PostAsJsonAsync("/auth/refresh", new { refresh_token = registered["refresh_token"]!.GetValue<string>() }).ExpectAsync(HttpStatusCode.Unauthorized);
        var login = await anonymous.PostAsJsonAsync("/auth/login", new { email, password = "a long enough password" }).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("organizer", login["role"]!.GetValue<string>());

        Assert.Equal([userId], await ListIds(admin, email[..10]));

        await admin.PutAsJsonAsync($"/admin/users/{userId}/role", new { role = "superuser" }).ExpectAsync(HttpStatusCode.BadRequest);
        await admin.PutAsJsonAsync("/admin/users/987654321/role", new { role = "customer" }).ExpectAsync(HttpStatusCode.NotFound);
        await admin.PutAsJsonAsync($"/admin/users/{adminId}/role", new { role = "customer" }).ExpectAsync(HttpStatusCode.Conflict);
    }

    [Fact]
    public async Task An_admin_disables_an_account_which_then_cannot_sign_in_until_enabled()
    {
        const string Password = "a long enough password";
        var (admin, adminId) = await App.AdminAsync();
        var email = await App.RegisterAsync(Password);
        var (customer, tokens) = await App.LoginAsync(email, Password);
        var userId = tokens["user_id"]!.GetValue<long>();
        using var anonymous = App.CreateClient();

        var disabled = await admin.PutAsJsonAsync($"/admin/users/{userId}/disabled", new { disabled = true }).ExpectAsync(HttpStatusCode.OK);
        Assert.NotNull(disabled["disabled_at"]);
        await admin.PutAsJsonAsync($"/admin/users/{userId}/disabled", new { disabled = true }).ExpectAsync(HttpStatusCode.OK); // again: no change

        await anonymous.PostAsJsonAsync("/auth/login", new { email, password = Password }).ExpectAsync(HttpStatusCode.Unauthorized);
        await anonymous.PostAsJsonAsync("/auth/refresh", new { refresh_token = tokens["refresh_token"]!.GetValue<string>() }).ExpectAsync(HttpStatusCode.Unauthorized);
        await Eventually.EqualAsync(HttpStatusCode.Unauthorized, async () =>
        {
            using var refused = await customer.GetAsync($"/users/{userId}");
            return refused.StatusCode;
        });

        var enabled = await admin.PutAsJsonAsync($"/admin/users/{userId}/disabled", new { disabled = false }).ExpectAsync(HttpStatusCode.OK);
        Assert.Null(enabled["disabled_at"]);
        await anonymous.PostAsJsonAsync("/auth/login", new { email, password = Password }).ExpectAsync(HttpStatusCode.OK);
        // The sessions it had before stay ended: enabling is not undoing.
        await anonymous.PostAsJsonAsync("/auth/refresh", new { refresh_token = tokens["refresh_token"]!.GetValue<string>() }).ExpectAsync(HttpStatusCode.Unauthorized);

        Assert.Equal("user.disabled,user.enabled", await App.DataSource.ScalarAsync<string>(
            "select string_agg(action, ',' order by audit_log_id) from audit_log where entity = 'app_user' and entity_id = $1 and action in ('user.disabled', 'user.enabled') and actor_user_id = $2",
            userId, adminId));

        await admin.PutAsJsonAsync($"/admin/users/{userId}/disabled", new { }).ExpectAsync(HttpStatusCode.BadRequest);
        await admin.PutAsJsonAsync("/admin/users/987654321/disabled", new { disabled = true }).ExpectAsync(HttpStatusCode.NotFound);
        await admin.PutAsJsonAsync($"/admin/users/{adminId}/disabled", new { disabled = true }).ExpectAsync(HttpStatusCode.Conflict);
    }

    private static async Task<long[]> ListIds(HttpClient admin, string emailPart)
    {
        using var response = await admin.GetAsync($"/admin/users?email={Uri.EscapeDataString(emailPart)}");
        var users = System.Text.Json.Nodes.JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsArray();
        return users.Select(u => u!["user_id"]!.GetValue<long>()).ToArray();
    }
}

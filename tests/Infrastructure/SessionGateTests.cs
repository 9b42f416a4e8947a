using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Holdfast.Infrastructure.Auth;
using Microsoft.Extensions.DependencyInjection;

namespace Holdfast.Tests.Infrastructure;

/// <summary>Access tokens end with their session and with their role (issue 11, finding 9).</summary>
public sealed class SessionGateTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    private const string Password = "a long enough password";

    private TestApp App => fixture.App;

    private SessionGate Gate => App.Services.GetRequiredService<SessionGate>();

    [Theory]
    [MemberData(nameof(Endings))]
    public Task An_access_token_is_refused_on_the_next_request_once_its_session_ends(string how) => EndSessionAndExpectRefusalAsync(App, how);

    /// <summary>The ways a session ends.</summary>
    public static TheoryData<string> Endings => ["logout", "revoking the session", "replaying a used refresh token", "changing the password elsewhere", "demotion by an admin"];

    /// <summary>Signs in through <paramref name="app"/>, uses the token, ends its session <paramref name="how"/>, and expects the next request refused.</summary>
    internal static async Task EndSessionAndExpectRefusalAsync(TestApp app, string how)
    {
        var gate = app.Services.GetRequiredService<SessionGate>();
        await gate.Listening.WaitAsync(TimeSpan.FromSeconds(30));
        var email = await app.RegisterAsync(Password, how == "demotion by an admin" ? "organizer" : null);
        var (client, tokens) = await app.LoginAsync(email, Password);
        var request = how == "demotion by an admin"
            ? () => client.PostAsJsonAsync("/events", new { kind = "film", title = "Made by a demoted organizer", duration_minutes = 60 })
            : (Func<Task<HttpResponseMessage>>)(() => client.GetAsync("/auth/sessions"));
        var expected = how == "demotion by an admin" ? HttpStatusCode.Created : HttpStatusCode.OK;
        var before = gate.Stats;
        Assert.Equal(expected, await StatusAsync(request()));
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(client.GetAsync("/auth/sessions")));
        Assert.True(gate.Stats.Hits > before.Hits, "the token's second request was not answered from memory");

        switch (how)
        {
            case "logout":
                await client.PostAsJsonAsync("/auth/logout", new { refresh_token = RefreshToken(tokens) }).ExpectAsync(HttpStatusCode.NoContent);
                break;
            case "revoking the session":
                var (other, _) = await app.LoginAsync(email, Password);
                await other.DeleteAsync($"/auth/sessions/{Http.SessionOf(tokens)}").ExpectAsync(HttpStatusCode.NoContent);
                break;
            case "replaying a used refresh token":
                using (var anonymous = app.CreateClient())
                {
                    await anonymous.PostAsJsonAsync("/auth/refresh", new { refresh_token = RefreshToken(tokens) }).ExpectAsync(HttpStatusCode.OK);
                    await anonymous.PostAsJsonAsync("/auth/refresh", new { refresh_token = RefreshToken(tokens) }).ExpectAsync(HttpStatusCode.Unauthorized);
                }

                break;
            case "changing the password elsewhere":
                var (current, _) = await app.LoginAsync(email, Password);
                await current.PostAsJsonAsync("/auth/password", new { current_password = Password, new_password = "a brand new password" })
                    .ExpectAsync(HttpStatusCode.NoContent);
                // The session that changed it stays in.
                Assert.Equal(HttpStatusCode.OK, await StatusAsync(current.GetAsync("/auth/sessions")));
                break;
            case "demotion by an admin":
                var (admin, _) = await app.AdminAsync();
                await admin.PutAsJsonAsync($"/admin/users/{tokens["user_id"]}/role", new { role = "customer" }).ExpectAsync(HttpStatusCode.OK);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(how), how, null);
        }

        await ExpectRefusedAsync(request());
    }

    [Fact]
    public async Task A_token_whose_role_is_no_longer_the_accounts_is_refused_even_when_its_session_lives_on()
    {
        await Gate.Listening.WaitAsync(TimeSpan.FromSeconds(30));
        var email = await App.RegisterAsync(Password);
        var (client, tokens) = await App.LoginAsync(email, Password);
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(client.GetAsync("/auth/sessions")));
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(client.GetAsync("/auth/sessions")));

        // What `grant-role` does, from another process: no session is revoked, no slice is involved.
        await App.DataSource.ScalarAsync<int>($"with changed as (update app_user set role = 'organizer' where app_user_id = {tokens["user_id"]} returning 1) select count(*)::int from changed");

        // Every node hears of it within a second; the token still says customer.
        await Eventually.EqualAsync(HttpStatusCode.Unauthorized, () => StatusAsync(client.GetAsync("/auth/sessions")), TimeSpan.FromSeconds(1));

        // The session itself is fine: a refresh gives a token with the new role, and it is admitted.
        using var anonymous = App.CreateClient();
        var refreshed = await anonymous.PostAsJsonAsync("/auth/refresh", new { refresh_token = RefreshToken(tokens) }).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("organizer", refreshed["role"]!.GetValue<string>());
        client.DefaultRequestHeaders.Authorization = new("Bearer", refreshed["access_token"]!.GetValue<string>());
        await client.PostAsJsonAsync("/events", new { kind = "film", title = "Promoted", duration_minutes = 60 }).ExpectAsync(HttpStatusCode.Created);
    }

    [Fact]
    public async Task A_live_session_is_read_from_the_database_once_and_then_from_memory()
    {
        // Another test of this class kills the listener; wait until it is back, not only first up.
        await Gate.Listening.WaitAsync(TimeSpan.FromSeconds(30));
        await Eventually.EqualAsync(true, () => Task.FromResult(Gate.IsListening), TimeSpan.FromSeconds(30));
        var (client, _) = await App.LoginAsync(await App.RegisterAsync(Password), Password);
        var before = Gate.Stats;

        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(HttpStatusCode.OK, await StatusAsync(client.GetAsync("/auth/sessions")));
        }

        var after = Gate.Stats;
        Assert.Equal((1L, 19L), (after.Misses - before.Misses, after.Hits - before.Hits));
    }

    [Fact]
    public async Task A_revocation_committed_while_the_listener_is_down_is_not_answered_from_memory()
    {
        await Gate.Listening.WaitAsync(TimeSpan.FromSeconds(30));
        var (client, tokens) = await App.LoginAsync(await App.RegisterAsync(Password), Password);
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(client.GetAsync("/auth/sessions")));
        var before = Gate.Stats;
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(client.GetAsync("/auth/sessions")));
        Assert.Equal(before.Hits + 1, Gate.Stats.Hits);

        // The listening connection dies first, so nobody hears the revocation's notification: it is lost.
        await using (var connection = await App.DataSource.OpenConnectionAsync())
        await using (var transaction = await connection.BeginTransactionAsync())
        {
            await using var command = new Npgsql.NpgsqlCommand($"""
                select count(pg_terminate_backend(pid)) from pg_stat_activity
                where datname = current_database() and query = 'listen {SessionGate.ChannelName}';
                update refresh_token set revoked_at = now() where family_id = '{Http.SessionOf(tokens)}' and revoked_at is null;
                """, connection, transaction);
            await command.ExecuteNonQueryAsync();
            await transaction.CommitAsync();
        }

        // The entry would live for a minute (Auth:SessionCacheSeconds); the token is refused long before.
        await Eventually.EqualAsync(HttpStatusCode.Unauthorized, () => StatusAsync(client.GetAsync("/auth/sessions")), TimeSpan.FromSeconds(3));
    }

    internal static async Task<HttpStatusCode> StatusAsync(Task<HttpResponseMessage> send)
    {
        using var response = await send;
        return response.StatusCode;
    }

    internal static async Task ExpectRefusedAsync(Task<HttpResponseMessage> send)
    {
        using var response = await send;
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        var challenge = Assert.Single(response.Headers.WwwAuthenticate);
        Assert.Equal("Bearer", challenge.Scheme);
        Assert.Contains("error=\"invalid_token\"", challenge.Parameter, StringComparison.Ordinal);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    private static string RefreshToken(JsonObject tokens) => tokens["refresh_token"]!.GetValue<string>();
}

/// <summary>An app whose database sends no session notifications (the triggers of migration 0021 disabled).</summary>
public sealed class NoSessionNotificationsFixture : AppFixture
{
    public override async ValueTask InitializeAsync()
    {
        await base.InitializeAsync();
        await App.DataSource.ScalarAsync<int>("alter table refresh_token disable trigger user; alter table app_user disable trigger user; select 1");
    }
}

/// <summary>
/// The node that ends a session forgets it itself, at once: its next request does not wait for the
/// notification (here, none ever comes).
/// </summary>
public sealed class SessionGateLocalForgetTests(NoSessionNotificationsFixture fixture) : IClassFixture<NoSessionNotificationsFixture>
{
    [Theory]
    [MemberData(nameof(SessionGateTests.Endings), MemberType = typeof(SessionGateTests))]
    public Task The_node_that_ends_a_session_refuses_its_token_without_waiting_for_the_notification(string how) =>
        SessionGateTests.EndSessionAndExpectRefusalAsync(fixture.App, how);
}

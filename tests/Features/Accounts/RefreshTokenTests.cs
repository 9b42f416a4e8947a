using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Holdfast.Tests.Infrastructure;

namespace Holdfast.Tests.Features.Accounts;

public sealed class RefreshTokenTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    private TestApp App => fixture.App;

    [Fact]
    public async Task A_refresh_token_rotates_into_a_working_pair()
    {
        using var client = App.CreateClient();
        var login = await LoginAsync(client);

        var refreshed = await client.PostAsJsonAsync("/auth/refresh", new { refresh_token = login["refresh_token"]!.GetValue<string>() })
            .ExpectAsync(HttpStatusCode.OK);

        Assert.NotEqual(login["refresh_token"]!.GetValue<string>(), refreshed["refresh_token"]!.GetValue<string>());
        client.DefaultRequestHeaders.Authorization = new("Bearer", refreshed["access_token"]!.GetValue<string>());
        await client.GetAsync("/bookings/1").ExpectAsync(HttpStatusCode.NotFound);
        // The next rotation works too.
        await client.PostAsJsonAsync("/auth/refresh", new { refresh_token = refreshed["refresh_token"]!.GetValue<string>() }).ExpectAsync(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Replaying_a_used_refresh_token_revokes_the_whole_session()
    {
        using var client = App.CreateClient();
        var login = await LoginAsync(client);
        var stolen = login["refresh_token"]!.GetValue<string>();
        var owner = await client.PostAsJsonAsync("/auth/refresh", new { refresh_token = stolen }).ExpectAsync(HttpStatusCode.OK);

        // The thief replays the token the owner already rotated.
        var replay = await client.PostAsJsonAsync("/auth/refresh", new { refresh_token = stolen }).ExpectAsync(HttpStatusCode.Unauthorized);
        Assert.Contains("already used", replay["detail"]!.GetValue<string>(), StringComparison.Ordinal);

        // The owner's newer token died with the family; a separate login is untouched.
        await client.PostAsJsonAsync("/auth/refresh", new { refresh_token = owner["refresh_token"]!.GetValue<string>() }).ExpectAsync(HttpStatusCode.Unauthorized);
        var other = await client.PostAsJsonAsync("/auth/login", new { email = login["email"]!.GetValue<string>(), password = Password }).ExpectAsync(HttpStatusCode.OK);
        await client.PostAsJsonAsync("/auth/refresh", new { refresh_token = other["refresh_token"]!.GetValue<string>() }).ExpectAsync(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Two_concurrent_uses_of_one_token_rotate_it_at_most_once()
    {
        using var client = App.CreateClient();
        var token = (await LoginAsync(client))["refresh_token"]!.GetValue<string>();
        using var barrier = new Barrier(2);

        var statuses = await Task.WhenAll(Enumerable.Range(0, 2).Select(_ => Task.Run(async () =>
        {
            barrier.SignalAndWait();
            using var response = await client.PostAsJsonAsync("/auth/refresh", new { refresh_token = token });
            return response.StatusCode;
        })));

        Assert.Equal(1, statuses.Count(s => s == HttpStatusCode.OK));
        Assert.Equal(1, statuses.Count(s => s == HttpStatusCode.Unauthorized));
        await using var command = App.DataSource.CreateCommand($"""
            select count(*) filter (where revoked_at is null), count(*)
            from refresh_token
            where family_id = (select family_id from refresh_token where token_hash = sha256(decode(translate('{token}', '-_', '+/') || '=', 'base64')))
            """);
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        Assert.Equal(0L, reader.GetInt64(0)); // the loser's replay revoked the family, including the winner's new token
        Assert.Equal(2L, reader.GetInt64(1)); // the login's token and exactly one rotation
    }

    [Fact]
    public async Task Logout_revokes_the_session_and_only_hashes_are_stored()
    {
        using var client = App.CreateClient();
        var login = await LoginAsync(client);
        var token = login["refresh_token"]!.GetValue<string>();

        await client.PostAsJsonAsync("/auth/logout", new { refresh_token = token }).ExpectAsync(HttpStatusCode.NoContent);
        await client.PostAsJsonAsync("/auth/refresh", new { refresh_token = token }).ExpectAsync(HttpStatusCode.Unauthorized);
        await client.PostAsJsonAsync("/auth/logout", new { refresh_token = "unknown" }).ExpectAsync(HttpStatusCode.NoContent);

        Assert.Equal(0L, await App.DataSource.ScalarAsync<long>(
            $"select count(*) from refresh_token where encode(token_hash, 'escape') like '%{token[..10]}%' or encode(token_hash, 'base64') like '%{token[..10]}%'"));
    }

    [Fact]
    public async Task Expired_garbage_or_missing_refresh_tokens_are_refused()
    {
        using var client = App.CreateClient();
        var login = await LoginAsync(client);
        await using (var command = App.DataSource.CreateCommand(
            $"update refresh_token set created_at = now() - interval '31 days', expires_at = now() - interval '1 day' where app_user_id = {login["user_id"]}"))
        {
            await command.ExecuteNonQueryAsync();
        }

        await client.PostAsJsonAsync("/auth/refresh", new { refresh_token = login["refresh_token"]!.GetValue<string>() }).ExpectAsync(HttpStatusCode.Unauthorized);
        await client.PostAsJsonAsync("/auth/refresh", new { refresh_token = "not-a-token" }).ExpectAsync(HttpStatusCode.Unauthorized);
        var missing = await client.PostAsJsonAsync("/auth/refresh", new { }).ExpectAsync(HttpStatusCode.BadRequest);
        Assert.True(missing["errors"]!.AsObject().ContainsKey("refresh_token"));
    }

    private const string Password = "a long enough password";

    private static async Task<JsonObject> LoginAsync(HttpClient client)
    {
        var email = $"r{Guid.NewGuid():N}@example.com";
        await client.PostAsJsonAsync("/auth/register", new { email, password = Password }).ExpectAsync(HttpStatusCode.Created);
        var login = await client.PostAsJsonAsync("/auth/login", new { email, password = Password }).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(43, login["refresh_token"]!.GetValue<string>().Length);
        login["email"] = email;
        return login;
    }
}

using System.Net;
using System.Security.Cryptography;
using System.Text;

namespace Holdfast.Tests.Infrastructure;

public sealed class IdempotencyTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    private TestApp App => fixture.App;

    private static HttpRequestMessage Post(string path, string json, string key)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        request.Headers.Add("Idempotency-Key", key);
        return request;
    }

    [Fact]
    public async Task A_retried_request_with_the_same_key_and_body_gets_the_first_response()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource);
        var (client, userId) = await App.CustomerAsync();
        var key = Guid.NewGuid().ToString();

        using var first = await client.SendAsync(Post($"/shows/{show.ShowId}/holds", """{"seats":["1A","1B"]}""", key));
        using var retry = await client.SendAsync(Post($"/shows/{show.ShowId}/holds", """{"seats":["1A","1B"]}""", key));

        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal(HttpStatusCode.Created, retry.StatusCode);
        Assert.Equal(await first.Content.ReadAsStringAsync(), await retry.Content.ReadAsStringAsync());
        Assert.Equal("true", retry.Headers.GetValues("Idempotent-Replayed").Single());
        Assert.Equal(1L, await App.DataSource.ScalarAsync<long>($"select count(*) from hold where app_user_id = {userId}"));

        using var different = await client.SendAsync(Post($"/shows/{show.ShowId}/holds", """{"seats":["2A"]}""", key));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, different.StatusCode);

        // Keys belong to their caller: another customer's identical key is a new request.
        var (other, _) = await App.CustomerAsync();
        using var theirs = await other.SendAsync(Post($"/shows/{show.ShowId}/holds", """{"seats":["3A"]}""", key));
        Assert.Equal(HttpStatusCode.Created, theirs.StatusCode);
    }

    // A key as a request in flight leaves it: claimed, no response yet, leased until locked_until.
    private async Task ClaimAsync(long userId, long showId, string key, string body, string lockedUntil)
    {
        await using var command = App.DataSource.CreateCommand(
            $"insert into idempotency_key (caller, key, method, path, request_hash, created_at, locked_until) values (@caller, @key, 'POST', @path, @hash, now() - interval '2 minutes', {lockedUntil})");
        command.Parameters.AddWithValue("caller", $"user:{userId}");
        command.Parameters.AddWithValue("key", key);
        command.Parameters.AddWithValue("path", $"/shows/{showId}/holds");
        command.Parameters.AddWithValue("hash", SHA256.HashData(Encoding.UTF8.GetBytes(body)));
        await command.ExecuteNonQueryAsync();
    }

    [Fact]
    public async Task A_request_whose_key_is_still_in_flight_gets_409()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource);
        var (client, userId) = await App.CustomerAsync();
        const string body = """{"seats":["4A"]}""";
        await ClaimAsync(userId, show.ShowId, "busy", body, "now() + interval '20 seconds'");

        using var response = await client.SendAsync(Post($"/shows/{show.ShowId}/holds", body, "busy"));

        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        Assert.Equal(0L, await App.DataSource.ScalarAsync<long>($"select count(*) from hold where app_user_id = {userId}"));
    }

    [Fact]
    public async Task A_key_left_in_flight_by_a_request_that_died_is_taken_over_by_the_retry_once_its_lease_lapsed()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource);
        var (client, userId) = await App.CustomerAsync();
        const string body = """{"seats":["5A"]}""";
        await ClaimAsync(userId, show.ShowId, "orphaned", body, "now() - interval '1 second'");

        using var retry = await client.SendAsync(Post($"/shows/{show.ShowId}/holds", body, "orphaned"));
        using var replay = await client.SendAsync(Post($"/shows/{show.ShowId}/holds", body, "orphaned"));
        using var different = await client.SendAsync(Post($"/shows/{show.ShowId}/holds", """{"seats":["5B"]}""", "orphaned"));

        Assert.Equal(HttpStatusCode.Created, retry.StatusCode);
        Assert.Equal("true", replay.Headers.GetValues("Idempotent-Replayed").Single());
        Assert.Equal(HttpStatusCode.UnprocessableEntity, different.StatusCode);
        Assert.Equal(1L, await App.DataSource.ScalarAsync<long>($"select count(*) from hold where app_user_id = {userId}"));
    }

    [Fact]
    public async Task A_long_request_renews_its_lease_so_a_retry_meanwhile_gets_409()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource);
        var (client, userId) = await App.CustomerAsync();
        const string body = """{"seats":["3D"]}""";
        // The hold waits behind this customer's per-customer lock, as a slow request would.
        await using var busy = await App.DataSource.OpenConnectionAsync();
        await using var transaction = await busy.BeginTransactionAsync();
        await using (var take = new Npgsql.NpgsqlCommand($"select pg_advisory_xact_lock(hashtextextended('hold-limit:{show.ShowId}:{userId}', 0))", busy, transaction))
        {
            await take.ExecuteNonQueryAsync();
        }

        var first = client.SendAsync(Post($"/shows/{show.ShowId}/holds", body, "slow"));
        await Eventually.EqualAsync(true, () => App.DataSource.ScalarAsync<bool>($"select exists (select 1 from idempotency_key where key = 'slow')"));
        var leasedAt = await App.DataSource.ScalarAsync<DateTime>("select locked_until from idempotency_key where key = 'slow'");
        await Eventually.EqualAsync(true, () => App.DataSource.ScalarAsync<bool>($"select locked_until > '{leasedAt:O}'::timestamptz from idempotency_key where key = 'slow'"), TimeSpan.FromSeconds(20));
        using var meanwhile = await client.SendAsync(Post($"/shows/{show.ShowId}/holds", body, "slow"));
        await transaction.RollbackAsync();

        Assert.Equal(HttpStatusCode.Conflict, meanwhile.StatusCode);
        using var firstAnswer = await first;
        Assert.True(firstAnswer.StatusCode == HttpStatusCode.Created, $"{(int)firstAnswer.StatusCode} {await firstAnswer.Content.ReadAsStringAsync()}");
    }

    [Fact]
    public async Task Concurrent_retries_with_one_key_create_one_hold()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource, rows: 3, seatsPerRow: 10, premiumRows: 0);
        var (client, userId) = await App.CustomerAsync();
        var key = Guid.NewGuid().ToString();
        using var barrier = new Barrier(6);

        var statuses = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => Task.Run(async () =>
        {
            barrier.SignalAndWait();
            using var response = await client.SendAsync(Post($"/shows/{show.ShowId}/holds", """{"category":"standard","quantity":2}""", key));
            return response.StatusCode;
        })));

        Assert.All(statuses, s => Assert.True(s is HttpStatusCode.Created or HttpStatusCode.Conflict, s.ToString()));
        Assert.Contains(HttpStatusCode.Created, statuses);
        Assert.Equal(1L, await App.DataSource.ScalarAsync<long>($"select count(*) from hold where app_user_id = {userId}"));
    }
}

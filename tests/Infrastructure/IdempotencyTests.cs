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
        Assert.Equal(1L, await Scalar($"select count(*) from hold where app_user_id = {userId}"));

        using var different = await client.SendAsync(Post($"/shows/{show.ShowId}/holds", """{"seats":["2A"]}""", key));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, different.StatusCode);

        // Keys belong to their caller: another customer's identical key is a new request.
        var (other, _) = await App.CustomerAsync();
        using var theirs = await other.SendAsync(Post($"/shows/{show.ShowId}/holds", """{"seats":["3A"]}""", key));
        Assert.Equal(HttpStatusCode.Created, theirs.StatusCode);
    }

    [Fact]
    public async Task A_request_whose_key_is_still_in_flight_gets_409()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource);
        var (client, userId) = await App.CustomerAsync();
        const string body = """{"seats":["4A"]}""";
        await using (var command = App.DataSource.CreateCommand(
            "insert into idempotency_key (caller, key, method, path, request_hash, created_at) values (@caller, 'busy', 'POST', @path, @hash, now())"))
        {
            command.Parameters.AddWithValue("caller", $"user:{userId}");
            command.Parameters.AddWithValue("path", $"/shows/{show.ShowId}/holds");
            command.Parameters.AddWithValue("hash", SHA256.HashData(Encoding.UTF8.GetBytes(body)));
            await command.ExecuteNonQueryAsync();
        }

        using var response = await client.SendAsync(Post($"/shows/{show.ShowId}/holds", body, "busy"));

        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        Assert.Equal(0L, await Scalar($"select count(*) from hold where app_user_id = {userId}"));
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
        Assert.Equal(1L, await Scalar($"select count(*) from hold where app_user_id = {userId}"));
    }

    private Task<long> Scalar(string sql) => App.DataSource.ScalarAsync<long>(sql);
}

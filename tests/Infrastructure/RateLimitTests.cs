using System.Net;
using System.Net.Http.Json;

namespace Holdfast.Tests.Infrastructure;

public sealed class TightLimitsFixture : AppFixture
{
    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        ["RateLimits:AuthPerMinute"] = "5",
        ["RateLimits:HoldBurst"] = "3",
        ["RateLimits:HoldsPerSecond"] = "1",
    };
}

public sealed class RateLimitTests(TightLimitsFixture fixture) : IClassFixture<TightLimitsFixture>
{
    private TestApp App => fixture.App;

    [Fact]
    public async Task Too_many_logins_get_429_problem_details_with_Retry_After()
    {
        using var client = App.CreateClient();
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 8; i++)
        {
            // A new email each time, so only the per-IP limiter (not the per-account backoff) can refuse.
            using var attempt = await client.PostAsJsonAsync("/auth/login", new { email = $"n{i}@example.com", password = "wrong password" });
            statuses.Add(attempt.StatusCode);
        }

        Assert.Equal(5, statuses.Count(s => s == HttpStatusCode.Unauthorized));
        Assert.Equal(3, statuses.Count(s => s == HttpStatusCode.TooManyRequests));
        using var response = await client.PostAsJsonAsync("/auth/login", new { email = "another@example.com", password = "wrong password" });
        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.InRange(int.Parse(response.Headers.GetValues("Retry-After").Single(), System.Globalization.CultureInfo.InvariantCulture), 1, 60);
        // Reads are not limited by the auth policy.
        await client.GetAsync("/shows?limit=1").ExpectAsync(HttpStatusCode.OK);
    }

    [Fact]
    public async Task One_customer_flooding_holds_does_not_lock_out_another()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource, rows: 10, seatsPerRow: 10, premiumRows: 0);
        // Accounts made in SQL with their tokens: registering through the API would spend the auth limit.
        var (noisy, _) = await App.AccountAsync(Holdfast.Infrastructure.Auth.Roles.Customer);
        var (quiet, _) = await App.AccountAsync(Holdfast.Infrastructure.Auth.Roles.Customer);
        var noisyStatuses = new List<HttpStatusCode>();
        for (var i = 0; i < 6; i++)
        {
            using var response = await noisy.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { category = "standard", quantity = 1 });
            noisyStatuses.Add(response.StatusCode);
        }

        Assert.Contains(HttpStatusCode.TooManyRequests, noisyStatuses);
        Assert.True(noisyStatuses.Take(3).All(s => s == HttpStatusCode.Created), string.Join(",", noisyStatuses));
        await quiet.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { category = "standard", quantity = 1 }).ExpectAsync(HttpStatusCode.Created);
    }
}

public sealed class OneRequestAtATimeFixture : AppFixture
{
    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        ["RateLimits:GlobalConcurrency"] = "1",
    };
}

public sealed class GlobalConcurrencyTests(OneRequestAtATimeFixture fixture) : IClassFixture<OneRequestAtATimeFixture>
{
    [Fact]
    public async Task Open_seat_map_streams_do_not_use_up_the_nodes_request_cap()
    {
        var show = await TestCatalogue.ShowAsync(fixture.App.DataSource, rows: 1, seatsPerRow: 2, premiumRows: 0);
        using var client = fixture.App.CreateClient();
        await using var first = await SseSubscriber.OpenAsync(client, $"/shows/{show.ShowId}/seats/stream");
        await using var second = await SseSubscriber.OpenAsync(client, $"/shows/{show.ShowId}/seats/stream");
        Assert.Equal("snapshot", (await first.NextAsync()).Type);
        Assert.Equal("snapshot", (await second.NextAsync()).Type);

        await client.GetAsync("/shows?limit=1").ExpectAsync(HttpStatusCode.OK);
    }
}

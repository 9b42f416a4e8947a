using System.Net;
using System.Net.Http.Json;
using Holdfast.Infrastructure.Http;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Holdfast.Tests.Infrastructure;

/// <summary>A node whose database goes away answers 503 with Retry-After, logs the outage once, and recovers by itself.</summary>
public sealed class DatabaseOutageTests
{
    [Fact]
    public async Task While_the_database_is_unreachable_requests_get_503_with_retry_after_and_the_node_recovers_by_itself()
    {
        var connectionString = await PostgresServer.Instance.CreateDatabaseAsync();
        await using var direct = NpgsqlDataSource.Create(connectionString);
        var (proxy, proxied) = TcpProxy.For(connectionString);
        await using var _ = proxy;
        await using var app = await TestApp.StartAsync(PostgresServer.Instance, connectionString: proxied);
        var show = await TestCatalogue.ShowAsync(direct);
        var (customer, _) = await app.CustomerAsync();
        var anonymous = app.CreateClient();

        proxy.Cut();
        var answers = new List<HttpResponseMessage>
        {
            await anonymous.GetAsync("/shows?q=test"),
            await anonymous.GetAsync($"/shows/{show.ShowId}"),
            await anonymous.GetAsync($"/shows/{show.ShowId}/seats"),
            await anonymous.GetAsync($"/shows/{show.ShowId}/seats/stream", HttpCompletionOption.ResponseHeadersRead),
            await customer.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "1A" } }),
            await anonymous.PostAsJsonAsync("/auth/login", new { email = "nobody@example.com", password = "correct horse battery" }),
        };
        var ready = await anonymous.GetAsync("/health/ready");
        var live = await anonymous.GetAsync("/health/live");

        foreach (var answer in answers)
        {
            var body = await answer.Content.ReadAsStringAsync();
            Assert.True(answer.StatusCode == HttpStatusCode.ServiceUnavailable, $"{answer.RequestMessage!.RequestUri}: {(int)answer.StatusCode} {body}");
            Assert.Equal("application/problem+json", answer.Content.Headers.ContentType?.MediaType);
            Assert.Equal(TimeSpan.FromSeconds(2), answer.Headers.RetryAfter?.Delta);
            Assert.DoesNotContain("127.0.0.1", body, StringComparison.Ordinal);
            Assert.DoesNotContain("Exception", body, StringComparison.Ordinal);
        }

        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        var outage = app.Services.GetRequiredService<DatabaseOutage>();
        Assert.Equal(1, outage.Count); // one outage, logged once, however many requests failed

        proxy.Restore();
        await Eventually.EqualAsync(HttpStatusCode.OK, async () => (await anonymous.GetAsync("/health/ready")).StatusCode);
        await customer.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "1A" } }).ExpectAsync(HttpStatusCode.Created);
        await Eventually.EqualAsync(false, () => Task.FromResult(outage.IsOpen));
        Assert.Equal(1, outage.Count);
    }
}

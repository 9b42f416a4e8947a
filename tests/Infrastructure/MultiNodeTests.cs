using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Caching;
using Microsoft.Extensions.DependencyInjection;

namespace Holdfast.Tests.Infrastructure;

/// <summary>Two app nodes on one database, as behind a load balancer.</summary>
public sealed class TwoNodesFixture : IAsyncLifetime
{
    public TestApp First { get; private set; } = null!;

    public TestApp Second { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        // Cache entries outlive the tests' waits: only an invalidation heard from the other node can refresh them.
        First = await TestApp.StartAsync(PostgresServer.Instance, TestApp.LongLivedCache());
        Second = await TestApp.StartAsync(PostgresServer.Instance, TestApp.LongLivedCache(), First.ConnectionString);
    }

    public async ValueTask DisposeAsync()
    {
        await Second.DisposeAsync();
        await First.DisposeAsync();
    }
}

public sealed class MultiNodeTests(TwoNodesFixture nodes) : IClassFixture<TwoNodesFixture>
{
    [Fact]
    public async Task An_SSE_client_on_one_node_sees_a_hold_made_through_the_other()
    {
        var show = await TestCatalogue.ShowAsync(nodes.First.DataSource);
        await using var feed = await SseSubscriber.OpenAsync(nodes.First.CreateClient(), $"/shows/{show.ShowId}/seats/stream");
        await feed.NextAsync();
        var (customer, _) = await nodes.Second.CustomerAsync();

        await customer.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "2C" } }).ExpectAsync(HttpStatusCode.Created);

        var held = await feed.NextAsync();
        Assert.Equal(("held", "1"), (held.Data["kind"]!.GetValue<string>(), held.Id));
    }

    [Fact]
    public async Task A_cached_search_on_one_node_is_dropped_when_the_other_node_holds_a_seat_it_lists()
    {
        var show = await TestCatalogue.ShowAsync(nodes.First.DataSource, rows: 2, seatsPerRow: 2, premiumRows: 0, currency: "DKK");
        using var reader = nodes.First.CreateClient();
        var cache = nodes.First.Services.GetRequiredService<ReadCache>();
        using var before = await reader.GetAsync("/shows?currency=DKK");
        var etag = before.Headers.ETag!.Tag;
        var hits = cache.Stats.Hits;
        using (var request = new HttpRequestMessage(HttpMethod.Get, "/shows?currency=DKK"))
        {
            request.Headers.TryAddWithoutValidation("If-None-Match", etag);
            using var unchanged = await reader.SendAsync(request);
            Assert.Equal(HttpStatusCode.NotModified, unchanged.StatusCode);
        }

        Assert.Equal(hits + 1, cache.Stats.Hits);
        var detailsBefore = await reader.GetAsync($"/shows/{show.ShowId}");
        var detailsEtag = detailsBefore.Headers.ETag!.Tag;

        var (customer, _) = await nodes.Second.CustomerAsync();
        await customer.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "1A" } }).ExpectAsync(HttpStatusCode.Created);

        // Node 1 hears the seat change on LISTEN and drops its search entry: the next search shows 3 seats left.
        await Eventually.EqualAsync(3, async () =>
            (await reader.GetFromJsonAsync<JsonObject>("/shows?currency=DKK"))!["items"]![0]!["seats_available"]!.GetValue<int>(), TestApp.InvalidationDeadline);
        using (var request = new HttpRequestMessage(HttpMethod.Get, "/shows?currency=DKK"))
        {
            request.Headers.TryAddWithoutValidation("If-None-Match", etag);
            using var changed = await reader.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, changed.StatusCode);
        }

        // The show's details are keyed by its seat event number, so they show the hold at once.
        var details = await reader.GetFromJsonAsync<JsonObject>($"/shows/{show.ShowId}");
        Assert.Equal(3, details!["categories"]!.AsArray().Single(c => c!["category"]!.GetValue<string>() == "standard")!["seats_available"]!.GetValue<int>());
        using var after = await reader.GetAsync($"/shows/{show.ShowId}");
        Assert.NotEqual(detailsEtag, after.Headers.ETag!.Tag);
    }

    [Fact]
    public async Task A_cached_show_on_one_node_is_dropped_when_the_other_node_reprices_it()
    {
        var show = await TestCatalogue.ShowAsync(nodes.First.DataSource, rows: 1, seatsPerRow: 2, premiumRows: 0);
        using var reader = nodes.First.CreateClient();
        var cache = nodes.First.Services.GetRequiredService<ReadCache>();
        async Task<long> StandardPriceAsync() =>
            (await reader.GetFromJsonAsync<JsonObject>($"/shows/{show.ShowId}"))!["categories"]!.AsArray()
                .Single(c => c!["category"]!.GetValue<string>() == "standard")!["price_minor"]!.GetValue<long>();
        Assert.Equal(2000L, await StandardPriceAsync());
        var hits = cache.Stats.Hits;
        Assert.Equal(2000L, await StandardPriceAsync());
        Assert.Equal(hits + 1, cache.Stats.Hits);

        // A new price moves no seat, so the entry's key stays; only the catalogue notification drops it.
        var (admin, _) = await nodes.Second.AdminAsync();
        await admin.PatchAsJsonAsync($"/shows/{show.ShowId}", new { prices = new Dictionary<string, long> { ["standard"] = 2500 } }).ExpectAsync(HttpStatusCode.NoContent);

        await Eventually.EqualAsync(2500L, StandardPriceAsync, TestApp.InvalidationDeadline);
    }

    [Fact]
    public async Task Each_job_runs_once_across_nodes()
    {
        await using (var insert = nodes.First.DataSource.CreateCommand("insert into job (kind, run_at) select 'jobs.noop', now() from generate_series(1, 300)"))
        {
            await insert.ExecuteNonQueryAsync();
        }

        await Eventually.EqualAsync(0L, () => nodes.First.DataSource.ScalarAsync<long>("select count(*) from job where kind = 'jobs.noop' and state <> 'completed'"), TimeSpan.FromSeconds(30));
        await using var attempts = nodes.First.DataSource.CreateCommand("select max(attempt), count(*) from job where kind = 'jobs.noop'");
        await using var reader = await attempts.ExecuteReaderAsync();
        await reader.ReadAsync();
        Assert.Equal((1, 300L), (reader.GetInt32(0), reader.GetInt64(1)));
    }

    [Fact]
    public async Task A_session_ended_through_one_node_is_refused_by_the_other_within_a_second()
    {
        var gate = nodes.First.Services.GetRequiredService<SessionGate>();
        await gate.Listening.WaitAsync(TimeSpan.FromSeconds(30));
        using var client = nodes.First.CreateClient();
        var tokens = await client.PostAsJsonAsync("/auth/register", new { email = $"n{Guid.NewGuid():N}@example.com", password = "a long enough password" })
            .ExpectAsync(HttpStatusCode.Created);
        client.DefaultRequestHeaders.Authorization = new("Bearer", tokens["access_token"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.OK, await SessionGateTests.StatusAsync(client.GetAsync("/auth/sessions")));
        var hits = gate.Stats.Hits;
        Assert.Equal(HttpStatusCode.OK, await SessionGateTests.StatusAsync(client.GetAsync("/auth/sessions")));
        Assert.Equal(hits + 1, gate.Stats.Hits);

        using var throughSecond = nodes.Second.CreateClient();
        await throughSecond.PostAsJsonAsync("/auth/logout", new { refresh_token = tokens["refresh_token"]!.GetValue<string>() }).ExpectAsync(HttpStatusCode.NoContent);

        await Eventually.EqualAsync(HttpStatusCode.Unauthorized, () => SessionGateTests.StatusAsync(client.GetAsync("/auth/sessions")), TimeSpan.FromSeconds(1));
    }
}

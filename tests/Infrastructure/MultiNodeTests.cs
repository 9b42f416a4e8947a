using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Holdfast.Infrastructure.Auth;
using Microsoft.Extensions.DependencyInjection;

namespace Holdfast.Tests.Infrastructure;

/// <summary>Two app nodes on one database, as behind a load balancer.</summary>
public sealed class TwoNodesFixture : IAsyncLifetime
{
    public TestApp First { get; private set; } = null!;

    public TestApp Second { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        First = await TestApp.StartAsync(PostgresServer.Instance);
        Second = await TestApp.StartAsync(PostgresServer.Instance, connectionString: First.ConnectionString);
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
    public async Task A_cached_read_on_one_node_is_dropped_when_the_other_node_changes_the_show()
    {
        var show = await TestCatalogue.ShowAsync(nodes.First.DataSource, rows: 2, seatsPerRow: 2, premiumRows: 0, currency: "DKK");
        using var reader = nodes.First.CreateClient();
        var before = await reader.GetAsync($"/shows/{show.ShowId}");
        var etag = before.Headers.ETag!.Tag;
        using (var request = new HttpRequestMessage(HttpMethod.Get, $"/shows/{show.ShowId}"))
        {
            request.Headers.TryAddWithoutValidation("If-None-Match", etag);
            using var unchanged = await reader.SendAsync(request);
            Assert.Equal(HttpStatusCode.NotModified, unchanged.StatusCode);
        }

        var (customer, _) = await nodes.Second.CustomerAsync();
        await customer.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "1A" } }).ExpectAsync(HttpStatusCode.Created);

        // Node 1 hears the change on LISTEN and drops its entry: the next read shows 3 seats left.
        await Eventually.EqualAsync(3, async () =>
        {
            var details = await reader.GetFromJsonAsync<JsonObject>($"/shows/{show.ShowId}");
            return details!["categories"]!.AsArray().Single(c => c!["category"]!.GetValue<string>() == "standard")!["seats_available"]!.GetValue<int>();
        });
        using var after = await reader.GetAsync($"/shows/{show.ShowId}");
        Assert.NotEqual(etag, after.Headers.ETag!.Tag);
    }

    [Fact]
    public async Task Each_job_runs_once_across_nodes()
    {
        await using (var insert = nodes.First.DataSource.CreateCommand("insert into job (kind, run_at) select 'jobs.noop', now() from generate_series(1, 300)"))
        {
            await insert.ExecuteNonQueryAsync();
        }

        await Eventually.EqualAsync(0L, async () =>
        {
            await using var left = nodes.First.DataSource.CreateCommand("select count(*) from job where kind = 'jobs.noop' and state <> 'completed'");
            return (long)(await left.ExecuteScalarAsync())!;
        }, TimeSpan.FromSeconds(30));
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

using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Holdfast.Tests.Infrastructure;

/// <summary>Node 1 in-process; rescues lapsed leases every second.</summary>
public sealed class SurvivorFixture : AppFixture
{
    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        ["Jobs:RescueIntervalSeconds"] = "1",
    };
}

public sealed class NodeFailureTests(SurvivorFixture fixture) : IClassFixture<SurvivorFixture>
{
    [Fact]
    public async Task Killing_a_node_mid_load_loses_no_confirmed_booking_and_its_leased_jobs_are_rescued()
    {
        var survivor = fixture.App;
        var port = PostgresServer.FreePort();
        using var victim = NodeProcess.Start(survivor.ConnectionString, port, new Dictionary<string, string?>
        {
            ["Jobs:Queues:0"] = "drill",
            ["Jobs:LeaseSeconds"] = "2",
        });
        using var toVictim = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        await NodeProcess.WaitReadyAsync(toVictim, victim);

        // Jobs only the victim works (queue "drill"), each long enough to still be leased when it dies.
        await using (var insert = survivor.DataSource.CreateCommand(
            "insert into job (kind, queue, run_at, payload) select 'jobs.noop', 'drill', now(), '{\"sleep_ms\": 60000}' from generate_series(1, 4)"))
        {
            await insert.ExecuteNonQueryAsync();
        }

        await Eventually.EqualAsync(4L, () => survivor.DataSource.ScalarAsync<long>($"select count(*) from job where queue = 'drill' and state = 'running' and leased_by like '%:{victim.Id}:%'"), TimeSpan.FromSeconds(20));

        // Load through both nodes; the victim dies in the middle of it.
        var show = await TestCatalogue.ShowAsync(survivor.DataSource, rows: 20, seatsPerRow: 10, premiumRows: 0);
        var confirmed = new ConcurrentBag<long>();
        var customers = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => survivor.CustomerAsync()));
        var load = customers.Select((c, i) => Task.Run(async () =>
        {
            var client = i % 2 == 0 ? c.Client : WithToken(toVictim, c.Client);
            for (var n = 0; n < 6; n++)
            {
                try
                {
                    using var hold = await client.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { category = "standard", quantity = 1 });
                    if (hold.StatusCode != HttpStatusCode.Created)
                    {
                        continue;
                    }

                    var holdId = (await hold.Content.ReadFromJsonAsync<JsonObject>())!["hold_id"]!.GetValue<long>();
                    using var booking = await client.PostAsync($"/holds/{holdId}/booking", null);
                    if (booking.StatusCode == HttpStatusCode.Created)
                    {
                        var body = (await booking.Content.ReadFromJsonAsync<JsonObject>())!;
                        if (body["status"]!.GetValue<string>() == "confirmed")
                        {
                            confirmed.Add(body["booking_id"]!.GetValue<long>());
                        }
                    }
                }
                catch (HttpRequestException)
                {
                    // The victim died under this request; the client would retry elsewhere.
                }
            }
        })).ToList();
        // The victim dies once the load is under way (a first booking confirmed), not after a guessed pause.
        await Eventually.EqualAsync(true, () => Task.FromResult(!confirmed.IsEmpty), TimeSpan.FromSeconds(30));
        victim.Kill(entireProcessTree: true);
        await Task.WhenAll(load);

        Assert.NotEmpty(confirmed);
        foreach (var bookingId in confirmed)
        {
            Assert.Equal(1L, await survivor.DataSource.ScalarAsync<long>($"select count(*) from booking where booking_id = {bookingId} and status = 'confirmed'"));
            Assert.Equal(await survivor.DataSource.ScalarAsync<long>($"select count(*) from hold_seat hs join booking b on b.hold_id = hs.hold_id where b.booking_id = {bookingId}"),
                await survivor.DataSource.ScalarAsync<long>($"select count(*) from show_seat where booking_id = {bookingId} and state = 'booked'"));
        }

        // The survivor finds the dead node's leases lapsed (2 s) and hands the jobs back.
        await Eventually.EqualAsync(0L, () => survivor.DataSource.ScalarAsync<long>("select count(*) from job where queue = 'drill' and state = 'running'"), TimeSpan.FromSeconds(20));
        Assert.Equal(4L, await survivor.DataSource.ScalarAsync<long>("select count(*) from job where queue = 'drill' and state = 'retryable' and errors::text like '%lease lapsed%'"));
    }

    private static HttpClient WithToken(HttpClient target, HttpClient source)
    {
        var client = new HttpClient { BaseAddress = target.BaseAddress };
        client.DefaultRequestHeaders.Authorization = source.DefaultRequestHeaders.Authorization;
        return client;
    }
}

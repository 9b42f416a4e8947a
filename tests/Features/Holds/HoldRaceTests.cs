using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Holdfast.Tests.Infrastructure;

namespace Holdfast.Tests.Features.Holds;

/// <summary>Real transactions racing on a real PostgreSQL, started together behind a barrier.</summary>
public sealed class HoldRaceTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    private TestApp App => fixture.App;

    [Fact]
    public async Task Fifty_customers_racing_for_overlapping_seats_never_share_a_seat()
    {
        var customers = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => App.CustomerAsync()));
        for (var round = 0; round < 5; round++)
        {
            // 50 customers, 3 seats each, all drawn from the same 12 seats: heavy overlap.
            var show = await TestCatalogue.ShowAsync(App.DataSource, rows: 2, seatsPerRow: 6);
            var random = new Random(round);
            var wants = customers.Select(_ => show.Labels.OrderBy(_ => random.Next()).Take(3).ToArray()).ToArray();
            using var barrier = new Barrier(customers.Length);

            var results = await Task.WhenAll(customers.Select((c, i) => Task.Run(async () =>
            {
                barrier.SignalAndWait();
                using var response = await c.Client.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = wants[i] });
                return (Status: response.StatusCode, Body: await response.Content.ReadAsStringAsync(), Wanted: wants[i]);
            })));

            Assert.All(results, r => Assert.True(r.Status is HttpStatusCode.Created or HttpStatusCode.Conflict, $"{(int)r.Status}: {r.Body}"));
            var winners = results.Where(r => r.Status == HttpStatusCode.Created).ToList();
            Assert.NotEmpty(winners);
            var heldByApi = winners.SelectMany(w => w.Wanted).ToList();
            Assert.Equal(heldByApi.Count, heldByApi.Distinct().Count());

            // Losers were told which of their seats were gone, and each named seat is really taken.
            foreach (var loser in results.Where(r => r.Status == HttpStatusCode.Conflict))
            {
                var gone = JsonNode.Parse(loser.Body)!["unavailable_seats"].Strings();
                Assert.NotEmpty(gone);
                Assert.All(gone, seat => Assert.Contains(seat, loser.Wanted));
            }

            // In the database: every held seat belongs to exactly one hold, and counts add up.
            await using var command = App.DataSource.CreateCommand($"""
                select (select count(*) from show_seat where show_id = {show.ShowId} and state = 'held'),
                       (select count(*) from hold_seat hs join hold h using (hold_id) where h.show_id = {show.ShowId} and h.status = 'active'),
                       (select count(*) from (select seat_id from hold_seat hs join hold h using (hold_id)
                                              where h.show_id = {show.ShowId} and h.status = 'active'
                                              group by seat_id having count(*) > 1) twice)
                """);
            await using var reader = await command.ExecuteReaderAsync();
            await reader.ReadAsync();
            Assert.Equal(heldByApi.Count, reader.GetInt64(0));
            Assert.Equal(heldByApi.Count, reader.GetInt64(1));
            Assert.Equal(0, reader.GetInt64(2));
        }
    }

    [Fact]
    public async Task Best_available_requests_racing_get_disjoint_seats()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource, rows: 6, seatsPerRow: 10, premiumRows: 0);
        var customers = await Task.WhenAll(Enumerable.Range(0, 30).Select(_ => App.CustomerAsync()));
        using var barrier = new Barrier(customers.Length);

        var results = await Task.WhenAll(customers.Select(c => Task.Run(async () =>
        {
            barrier.SignalAndWait();
            using var response = await c.Client.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { category = "standard", quantity = 2 });
            return (response.StatusCode, Body: await response.Content.ReadAsStringAsync());
        })));

        // 60 seats, 30 × 2 asked: everyone fits, so everyone must succeed, with no seat twice.
        Assert.All(results, r => Assert.True(r.StatusCode == HttpStatusCode.Created, r.Body));
        var seats = results.SelectMany(r => JsonNode.Parse(r.Body)!["seats"]!.AsArray().Select(s => s!["seat_id"]!.GetValue<long>())).ToList();
        Assert.Equal(60, seats.Count);
        Assert.Equal(60, seats.Distinct().Count());
    }

    [Fact]
    public async Task One_customer_racing_themself_cannot_exceed_the_seat_limit()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource, rows: 5, seatsPerRow: 10, premiumRows: 0);
        var (client, userId) = await App.CustomerAsync();
        using var barrier = new Barrier(8);

        var statuses = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            barrier.SignalAndWait();
            using var response = await client.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { category = "standard", quantity = 3 });
            return response.StatusCode;
        })));

        // Limit 10, 3 seats a request: exactly 3 requests fit (9 seats); the advisory lock makes it exact.
        Assert.Equal(3, statuses.Count(s => s == HttpStatusCode.Created));
        Assert.Equal(5, statuses.Count(s => s == HttpStatusCode.Conflict));
        Assert.Equal(9L, await App.DataSource.ScalarAsync<long>($"select sum(seat_count) from hold where show_id = {show.ShowId} and app_user_id = {userId}"));
    }
}

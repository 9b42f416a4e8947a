using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Holdfast.Tests.Infrastructure;

namespace Holdfast.Tests.Features.Holds;

/// <summary>
/// Parties racing for one show's best-available seats (decision 0025): real concurrent HTTP
/// requests, real transactions, released together behind a barrier, ten rounds.
/// </summary>
public sealed class PartyRaceTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    private TestApp App => fixture.App;

    [Fact]
    public async Task Fifty_parties_racing_are_all_served_together_with_no_seat_twice_for_ten_rounds()
    {
        var customers = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => App.CustomerAsync()));
        for (var round = 0; round < 10; round++)
        {
            // 12 rows of 20 seats with an aisle after seat 10: runs of 10. Four seats are blocked.
            // 50 parties of 2 to 4 ask for at most 200 of the 236 seats, so every party can be served,
            // and a half-row of 10 always fits a party somewhere until the very end.
            var show = await TestCatalogue.ShowAsync(App.DataSource, rows: 12, seatsPerRow: 20, premiumRows: 0);
            await App.DataSource.ChangeLayoutAsync(show.VenueId, "x = x + 1", "seat_number > 10");
            await App.DataSource.ExecuteAsync($"""
                update show_seat set state = 'blocked'
                where show_id = {show.ShowId} and seat_id in (select seat_id from seat where venue_id = {show.VenueId} and label in ('1E', '3K', '6A', '9T'))
                """);
            var random = new Random(round);
            var sizes = customers.Select(_ => random.Next(2, 5)).ToArray();
            using var barrier = new Barrier(customers.Length);

            var results = await Task.WhenAll(customers.Select((c, i) => Task.Run(async () =>
            {
                barrier.SignalAndWait();
                using var response = await c.Client.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { category = "standard", quantity = sizes[i] });
                return (Status: response.StatusCode, Body: await response.Content.ReadAsStringAsync(), Size: sizes[i]);
            })));

            // All served.
            Assert.All(results, r => Assert.True(r.Status == HttpStatusCode.Created, $"round {round}: {(int)r.Status} {r.Body}"));
            var holds = results.Select(r => (Hold: JsonNode.Parse(r.Body)!, r.Size)).ToList();
            var seatIds = holds.SelectMany(h => h.Hold["seats"]!.AsArray().Select(s => s!["seat_id"]!.GetValue<long>())).ToList();
            Assert.Equal(sizes.Sum(), seatIds.Count);
            Assert.Equal(seatIds.Count, seatIds.Distinct().Count());

            // The database agrees: each held seat in exactly one active hold, no blocked seat held.
            Assert.Equal(seatIds.Count, await App.DataSource.ScalarAsync<long>($"select count(*) from show_seat where show_id = {show.ShowId} and state = 'held'"));
            Assert.Equal(4L, await App.DataSource.ScalarAsync<long>($"select count(*) from show_seat where show_id = {show.ShowId} and state = 'blocked'"));
            Assert.Equal(0L, await App.DataSource.ScalarAsync<long>($"""
                select count(*) from (select seat_id from hold_seat join hold using (hold_id) where hold.show_id = {show.ShowId} and status = 'active'
                                      group by seat_id having count(*) > 1) twice
                """));

            // None split while a together-run was free: every party said to be together is adjacent
            // in one row (same row, drawing columns in sequence), and a party that was split could not
            // have fitted in any run still free at the end (which was free all along).
            var seats = await SeatsAsync(show);
            foreach (var (hold, size) in holds)
            {
                var mine = hold["seats"]!.AsArray().Select(s => seats[s!["seat_id"]!.GetValue<long>()]).OrderBy(s => s.X).ToList();
                if (hold["together"]!.GetValue<bool>())
                {
                    Assert.Single(mine.Select(s => s.Y).Distinct());
                    Assert.Equal(Enumerable.Range(mine[0].X, size), mine.Select(s => s.X));
                }
                else
                {
                    Assert.True(LongestFreeRun(seats.Values) < size, $"round {round}: a party of {size} was split while {LongestFreeRun(seats.Values)} seats together were free.");
                }
            }
        }
    }

    private sealed record SeatState(int X, int Y, string State);

    private static int LongestFreeRun(IEnumerable<SeatState> seats) =>
        seats.Where(s => s.State == "available").GroupBy(s => s.Y)
            .Select(row => row.Select(s => s.X).Order().Select((x, i) => x - i).GroupBy(k => k).Max(g => g.Count()))
            .DefaultIfEmpty(0).Max();

    private async Task<Dictionary<long, SeatState>> SeatsAsync(TestShow show)
    {
        await using var command = App.DataSource.CreateCommand($"select ss.seat_id, se.x, se.y, ss.state from show_seat ss join seat se using (seat_id) where ss.show_id = {show.ShowId}");
        await using var reader = await command.ExecuteReaderAsync();
        var seats = new Dictionary<long, SeatState>();
        while (await reader.ReadAsync())
        {
            seats[reader.GetInt64(0)] = new SeatState(reader.GetInt32(1), reader.GetInt32(2), reader.GetString(3));
        }

        return seats;
    }
}

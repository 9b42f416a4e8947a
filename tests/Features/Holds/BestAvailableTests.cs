using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Holdfast.Tests.Infrastructure;

namespace Holdfast.Tests.Features.Holds;

/// <summary>
/// Best-available keeps a party together (decision 0025). Shows come from <see cref="TestCatalogue"/>:
/// rows 1, 2, … of seats A, B, … in drawing columns 0, 1, …; an aisle is made by moving the seats
/// after it one column right, as <c>SeatLayout</c> draws one.
/// </summary>
public sealed class BestAvailableTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    private TestApp App => fixture.App;

    [Fact]
    public async Task A_party_of_two_sits_together_beside_held_seats_rather_than_around_them()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource, rows: 3, seatsPerRow: 6, premiumRows: 0);
        await HoldNamedAsync(show, "1B", "1E");

        // Free in row 1: A, C D, F. Rank order alone gave 1A + 1C.
        var (labels, together) = await HoldBestAsync(show, 2);

        Assert.Equal(["1C", "1D"], labels);
        Assert.True(together);
    }

    [Fact]
    public async Task A_party_leaves_no_single_seat_stranded_when_another_run_fits()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource, rows: 3, seatsPerRow: 6, premiumRows: 0);
        await HoldNamedAsync(show, "1D");

        // Row 1: A B C | E F. 1A 1B would strand 1C, 1B 1C would strand 1A; 1E 1F strands nothing.
        var (labels, together) = await HoldBestAsync(show, 2);

        Assert.Equal(["1E", "1F"], labels);
        Assert.True(together);
    }

    [Fact]
    public async Task A_party_of_one_takes_the_best_seat_that_strands_no_neighbour()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource, rows: 2, seatsPerRow: 6, premiumRows: 0);
        await HoldNamedAsync(show, "1C");

        // Row 1: A B | D E F. 1A (best rank) would strand 1B, 1B would strand 1A; 1D strands nothing.
        var (labels, together) = await HoldBestAsync(show, 1);

        Assert.Equal(["1D"], labels);
        Assert.True(together);
    }

    [Fact]
    public async Task A_party_of_one_gets_the_seat_the_party_algorithm_would_choose()
    {
        // Migration 0042 answers a party of one with its own query; over random rooms (aisles, seats of
        // another category, accessible seats) with random seats taken, it must choose as the party's
        // algorithm does for one, ordinary or accessible.
        var shows = new List<TestShow>();
        for (var i = 0; i < 6; i++)
        {
            var show = await TestCatalogue.ShowAsync(App.DataSource, rows: 5, seatsPerRow: 9, premiumRows: 0);
            await App.DataSource.ChangeLayoutAsync(show.VenueId, "x = x + 1", $"seat_number > {2 + i % 4}");
            await App.DataSource.ChangeLayoutAsync(show.VenueId, "access = 'wheelchair'", $"(seat_id + {i}) % 11 = 0");
            await App.DataSource.ChangeLayoutAsync(show.VenueId, "access = 'companion'", $"(seat_id + {i}) % 11 = 1");
            shows.Add(show);
        }

        var differences = new List<string>();
        var random = new Random(42);
        for (var round = 0; round < 40; round++)
        {
            var show = shows[round % shows.Count];
            // A random part of the room is taken: held, blocked or of another category.
            await App.DataSource.ExecuteAsync($"""
                update show_seat set state = 'available', category = 'standard' where show_id = {show.ShowId} and (state = 'blocked' or category = 'premium');
                update show_seat set state = 'blocked' where show_id = {show.ShowId} and hashint8(seat_id + {random.Next(1_000_000)}) % 3 = 0;
                update show_seat set category = 'premium' where show_id = {show.ShowId} and state = 'available' and hashint8(seat_id + {random.Next(1_000_000)}) % 7 = 0;
                """);
            foreach (var accessible in new[] { false, true })
            {
                var (fast, party) = await PicksAsync(show.ShowId, accessible);
                if (fast != party)
                {
                    differences.Add($"show {show.ShowId} round {round} accessible {accessible}: {fast} against {party}");
                }
            }
        }

        Assert.Empty(differences);
    }

    // The single-seat query's pick and the party algorithm's pick for one, each in its own rolled-back
    // transaction so neither sees the other's lock.
    private async Task<(string Fast, string Party)> PicksAsync(long showId, bool accessible)
    {
        async Task<string> PickAsync(string function)
        {
            await using var connection = await App.DataSource.OpenConnectionAsync();
            await using var transaction = await connection.BeginTransactionAsync();
            await using var command = new Npgsql.NpgsqlCommand($"select coalesce(string_agg(seat_id::text || ':' || together, ','), 'none') from {function}({showId}, 'standard', 1, {accessible})", connection, transaction);
            return (string)(await command.ExecuteScalarAsync())!;
        }

        return (await PickAsync("best_available_seats"), await PickAsync("best_available_party"));
    }

    [Fact]
    public async Task A_party_is_not_seated_across_an_aisle()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource, rows: 3, seatsPerRow: 6, premiumRows: 0);
        await AisleAfterAsync(show, 3);
        await HoldNamedAsync(show, "1A");

        // Row 1: B C ‖ D E F. 1B 1C 1D are adjacent numbers but the aisle runs between C and D.
        var (labels, together) = await HoldBestAsync(show, 3);

        Assert.Equal(["1D", "1E", "1F"], labels);
        Assert.True(together);
    }

    [Fact]
    public async Task Seats_of_another_category_break_a_run()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource, rows: 3, seatsPerRow: 6, premiumRows: 0);
        await App.DataSource.ExecuteAsync($"update show_seat set category = 'premium' where show_id = {show.ShowId} and seat_id = (select seat_id from seat where venue_id = {show.VenueId} and label = '1C')");

        var (labels, _) = await HoldBestAsync(show, 3);

        Assert.Equal(["1D", "1E", "1F"], labels);
    }

    [Fact]
    public async Task With_no_run_long_enough_the_party_is_split_over_the_fewest_rows_front_first()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource, rows: 3, seatsPerRow: 6, premiumRows: 0);
        await HoldNamedAsync(show, "1C", "1D", "2C", "2D");
        await HoldNamedAsync(show, "3D", "3E", "3F");

        // No row has four together. Row 1 alone has four free (A B, E F): one row beats rows 3 + 1.
        var (labels, together) = await HoldBestAsync(show, 4);

        Assert.Equal(["1A", "1B", "1E", "1F"], labels);
        Assert.False(together);
    }

    [Fact]
    public async Task With_no_row_big_enough_the_party_takes_two_rows_one_behind_the_other()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource, rows: 4, seatsPerRow: 4, premiumRows: 0);
        await HoldNamedAsync(show, "1B", "2C", "3A", "3B");
        await HoldNamedAsync(show, "3C", "3D", "4A", "4B", "4C");

        // Free: 1A, 1C 1D, 2A 2B, 2D, 4D. Rows 1 and 2 hold four between them: the two pairs.
        var (labels, together) = await HoldBestAsync(show, 4);

        Assert.Equal(["1C", "1D", "2A", "2B"], labels);
        Assert.False(together);
    }

    [Fact]
    public async Task Blocked_seats_are_never_offered()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource, rows: 2, seatsPerRow: 4, premiumRows: 0);
        await App.DataSource.ExecuteAsync($"update show_seat set state = 'blocked' where show_id = {show.ShowId} and seat_id in (select seat_id from seat where venue_id = {show.VenueId} and label in ('1B', '2A', '2B', '2C', '2D'))");

        var (labels, together) = await HoldBestAsync(show, 3);
        Assert.Equal(["1A", "1C", "1D"], labels);
        Assert.False(together);

        var (client, _) = await App.CustomerAsync();
        await client.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { category = "standard", quantity = 1 }).ExpectAsync(HttpStatusCode.Conflict);
    }

    [Fact]
    public async Task Accessible_seats_go_only_to_a_party_that_asks_for_them()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource, rows: 3, seatsPerRow: 4, premiumRows: 0);
        await App.DataSource.ChangeLayoutAsync(show.VenueId, "access = 'wheelchair'", "label in ('1A', '3A')");
        await App.DataSource.ChangeLayoutAsync(show.VenueId, "access = 'companion'", "label in ('1B', '3B')");

        // An ordinary party of two skips row 1's front-left pair although it ranks best.
        var (ordinary, _) = await HoldBestAsync(show, 2);
        Assert.Equal(["1C", "1D"], ordinary);

        // A wheelchair user and a companion get a wheelchair space with its companion seat.
        var (accessible, together) = await HoldBestAsync(show, 2, accessible: true);
        Assert.Equal(["1A", "1B"], accessible);
        Assert.True(together);

        // A party of one asking for an accessible seat gets a wheelchair space, not a companion seat.
        var (single, _) = await HoldBestAsync(show, 1, accessible: true);
        Assert.Equal(["3A"], single);

        // The last accessible seat is a companion seat: no wheelchair space left, so 409.
        var (client, _) = await App.CustomerAsync();
        var problem = await client.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { category = "standard", quantity = 1, accessible = true }).ExpectAsync(HttpStatusCode.Conflict);
        Assert.Contains("wheelchair", problem["detail"]!.GetValue<string>(), StringComparison.Ordinal);

        // Ordinary parties fill the rest and never reach 3B.
        for (var i = 0; i < 3; i++)
        {
            await HoldBestAsync(show, 2);
        }

        Assert.Equal("available", await App.DataSource.ScalarAsync<string>(
            $"select state from show_seat where show_id = {show.ShowId} and seat_id = (select seat_id from seat where venue_id = {show.VenueId} and label = '3B')"));
        await client.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { category = "standard", quantity = 1 }).ExpectAsync(HttpStatusCode.Conflict);
    }

    [Theory]
    [InlineData("""{"seats":["1A"],"accessible":true}""")]
    [InlineData("""{"accessible":true}""")]
    public async Task Accessible_is_a_best_available_option(string body)
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource, rows: 1, seatsPerRow: 2, premiumRows: 0);
        var (client, _) = await App.CustomerAsync();
        using var content = new StringContent(body, System.Text.Encoding.UTF8, "application/json");
        var problem = await client.PostAsync($"/shows/{show.ShowId}/holds", content).ExpectAsync(HttpStatusCode.BadRequest);
        Assert.NotNull(problem["errors"]!["seats"] ?? problem["errors"]!["category"]);
    }

    [Fact]
    public async Task Named_seats_answer_without_a_together_flag()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource, rows: 1, seatsPerRow: 2, premiumRows: 0);
        var (client, _) = await App.CustomerAsync();
        var hold = await client.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "1A" } }).ExpectAsync(HttpStatusCode.Created);
        Assert.Null(hold["together"]);
    }

    private async Task HoldNamedAsync(TestShow show, params string[] labels)
    {
        var (client, _) = await App.CustomerAsync();
        await client.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = labels }).ExpectAsync(HttpStatusCode.Created);
    }

    private async Task<(string[] Labels, bool Together)> HoldBestAsync(TestShow show, int quantity, bool accessible = false)
    {
        var (client, _) = await App.CustomerAsync();
        object body = accessible ? new { category = "standard", quantity, accessible } : new { category = "standard", quantity };
        var hold = await client.PostAsJsonAsync($"/shows/{show.ShowId}/holds", body).ExpectAsync(HttpStatusCode.Created);
        return (hold["seats"]!.AsArray().Select(s => s!["label"]!.GetValue<string>()).Order(StringComparer.Ordinal).ToArray(), hold["together"]!.GetValue<bool>());
    }

    // Draws an aisle after seat number afterNumber of every row.
    private Task AisleAfterAsync(TestShow show, int afterNumber) =>
        App.DataSource.ChangeLayoutAsync(show.VenueId, "x = x + 1", $"seat_number > {afterNumber}");
}

/// <summary>Statements run for their effect in arrangement steps.</summary>
internal static class SqlSteps
{
    public static async Task ExecuteAsync(this Npgsql.NpgsqlDataSource db, string sql)
    {
        await using var command = db.CreateCommand(sql);
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>
    /// Changes the venue's layout in place (<paramref name="setClause"/> on its <c>seat</c> rows that
    /// match <paramref name="where"/>) and copies the drawing positions and access into its shows'
    /// seats, as stocking a show does (migration 0039): an arrangement shortcut for a layout replaced
    /// before the show went on sale.
    /// </summary>
    public static Task ChangeLayoutAsync(this Npgsql.NpgsqlDataSource db, long venueId, string setClause, string where) =>
        db.ExecuteAsync($"""
            update seat set {setClause} where venue_id = {venueId} and {where};
            update show_seat ss set section = se.section, y = se.y, x = se.x, access = se.access
            from seat se where se.seat_id = ss.seat_id and se.venue_id = {venueId};
            """);
}

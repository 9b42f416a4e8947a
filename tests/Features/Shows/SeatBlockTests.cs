using System.Net;
using System.Net.Http.Json;
using Holdfast.Tests.Features.Holds;
using Holdfast.Tests.Infrastructure;

namespace Holdfast.Tests.Features.Shows;

/// <summary>Organizers block and unblock seats per show and per venue layout (decision 0025).</summary>
public sealed class SeatBlockTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    private TestApp App => fixture.App;

    [Fact]
    public async Task An_organizer_blocks_and_unblocks_seats_on_the_seat_map_the_feed_and_the_audit_log()
    {
        var (organizer, organizerId) = await App.OrganizerAsync();
        var show = await TestCatalogue.ShowAsync(App.DataSource, rows: 2, seatsPerRow: 4, premiumRows: 0, ownerId: organizerId);
        await using var feed = await SseSubscriber.OpenAsync(App.CreateClient(), $"/shows/{show.ShowId}/seats/stream");
        Assert.Equal("snapshot", (await feed.NextAsync()).Type);
        var before = await organizer.GetAsync($"/shows/{show.ShowId}/seats");
        var etag = before.Headers.ETag!;

        var blocked = await organizer.PostAsJsonAsync($"/shows/{show.ShowId}/blocks", new { seats = new[] { "1B", "1A" }, reason = "house seats" }).ExpectAsync(HttpStatusCode.OK);

        Assert.Equal(["1A", "1B"], blocked["changed"].Strings());
        Assert.Empty(blocked["unchanged"].Strings());
        var change = await feed.NextAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(("seats", "blocked", "blocked"), (change.Type, change.Data["kind"]!.GetValue<string>(), change.Data["state"]!.GetValue<string>()));
        Assert.Equal(blocked["seq"]!.GetValue<long>().ToString(System.Globalization.CultureInfo.InvariantCulture), change.Id);
        Assert.Equal(2, change.Data["seat_ids"]!.AsArray().Count);

        // The seat map is a new version with the seats blocked.
        using var conditional = new HttpRequestMessage(HttpMethod.Get, $"/shows/{show.ShowId}/seats");
        conditional.Headers.IfNoneMatch.Add(etag);
        using var map = await organizer.SendAsync(conditional);
        Assert.Equal(HttpStatusCode.OK, map.StatusCode);
        var seats = (await map.Content.ReadFromJsonAsync<System.Text.Json.Nodes.JsonObject>())!["seats"]!.AsArray();
        Assert.Equal(["1A", "1B"], seats.Where(s => s!["state"]!.GetValue<string>() == "blocked").Select(s => s!["label"]!.GetValue<string>()).Order().ToArray());
        Assert.Equal("house seats", await App.DataSource.ScalarAsync<string>(
            $"select reason from show_seat_block b join seat se using (seat_id) where b.show_id = {show.ShowId} and se.label = '1A'"));
        Assert.Equal(1L, await App.DataSource.ScalarAsync<long>(
            $"select count(*) from audit_log where action = 'show.seats_blocked' and entity_id = {show.ShowId} and actor_user_id = {organizerId} and after->>'reason' = 'house seats'"));

        // Idempotent: a repeat changes nothing and appends no event.
        var again = await organizer.PostAsJsonAsync($"/shows/{show.ShowId}/blocks", new { seats = new[] { "1A" }, reason = "house seats" }).ExpectAsync(HttpStatusCode.OK);
        Assert.Empty(again["changed"].Strings());
        Assert.Equal(["1A"], again["unchanged"].Strings());
        Assert.Null(again["seq"]);

        var unblocked = await organizer.DeleteAsync($"/shows/{show.ShowId}/blocks?seats=1A,2D").ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(["1A"], unblocked["changed"].Strings());
        Assert.Equal(["2D"], unblocked["unchanged"].Strings());
        var back = await feed.NextAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(("unblocked", "available"), (back.Data["kind"]!.GetValue<string>(), back.Data["state"]!.GetValue<string>()));
        Assert.Equal(1L, await App.DataSource.ScalarAsync<long>($"select count(*) from audit_log where action = 'show.seats_unblocked' and entity_id = {show.ShowId}"));
        Assert.Equal(0L, await App.DataSource.ScalarAsync<long>(
            $"select count(*) from show_seat_block b join seat se using (seat_id) where b.show_id = {show.ShowId} and se.label = '1A'"));
    }

    [Fact]
    public async Task A_blocked_seat_cannot_be_held_and_a_held_seat_cannot_be_blocked()
    {
        var (organizer, organizerId) = await App.OrganizerAsync();
        var show = await TestCatalogue.ShowAsync(App.DataSource, rows: 1, seatsPerRow: 4, premiumRows: 0, ownerId: organizerId);
        var (customer, _) = await App.CustomerAsync();
        await customer.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "1C" } }).ExpectAsync(HttpStatusCode.Created);

        // All or nothing: 1B is free but 1C is held, so neither is blocked.
        var refused = await organizer.PostAsJsonAsync($"/shows/{show.ShowId}/blocks", new { seats = new[] { "1B", "1C" }, reason = "crew" }).ExpectAsync(HttpStatusCode.Conflict);
        Assert.Equal(["1C"], refused["unavailable_seats"].Strings());
        Assert.Equal(0L, await App.DataSource.ScalarAsync<long>($"select count(*) from show_seat where show_id = {show.ShowId} and state = 'blocked'"));

        await organizer.PostAsJsonAsync($"/shows/{show.ShowId}/blocks", new { seats = new[] { "1B" }, reason = "broken" }).ExpectAsync(HttpStatusCode.OK);
        var (other, _) = await App.CustomerAsync();
        var gone = await other.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "1A", "1B" } }).ExpectAsync(HttpStatusCode.Conflict);
        Assert.Equal(["1B"], gone["unavailable_seats"].Strings());

        // Best-available skips it too: 1A and 1D are all that is left.
        var best = await other.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { category = "standard", quantity = 2 }).ExpectAsync(HttpStatusCode.Created);
        Assert.Equal(["1A", "1D"], best["seats"]!.AsArray().Select(s => s!["label"]!.GetValue<string>()).Order().ToArray());
        Assert.Equal("blocked", await App.DataSource.ScalarAsync<string>(
            $"select state from show_seat where show_id = {show.ShowId} and seat_id = (select seat_id from seat where venue_id = {show.VenueId} and label = '1B')"));
    }

    [Theory]
    [InlineData("""{"seats":["9Z"],"reason":"crew"}""", "seats")]
    [InlineData("""{"seats":[],"reason":"crew"}""", "seats")]
    [InlineData("""{"seats":["1A","1A"],"reason":"crew"}""", "seats")]
    [InlineData("""{"seats":["1A"]}""", "reason")]
    [InlineData("""{"seats":["1A;"],"reason":"crew"}""", "seats[0]")]
    public async Task Bad_block_requests_are_400_naming_the_field(string body, string field)
    {
        var (organizer, organizerId) = await App.OrganizerAsync();
        var show = await TestCatalogue.ShowAsync(App.DataSource, rows: 1, seatsPerRow: 2, premiumRows: 0, ownerId: organizerId);
        using var content = new StringContent(body, System.Text.Encoding.UTF8, "application/json");
        var problem = await organizer.PostAsync($"/shows/{show.ShowId}/blocks", content).ExpectAsync(HttpStatusCode.BadRequest);
        Assert.NotNull(problem["errors"]![field]);
        await organizer.DeleteAsync($"/shows/{show.ShowId}/blocks").ExpectAsync(HttpStatusCode.BadRequest);
        await organizer.DeleteAsync($"/shows/{show.ShowId}/blocks?seats=9Z").ExpectAsync(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task Seats_blocked_in_a_venue_layout_start_blocked_on_new_shows_only()
    {
        var (organizer, _) = await App.OrganizerAsync();
        await TestCatalogue.AirportAsync(App.DataSource, "LCY", "London", "United Kingdom", "Europe/London");
        var cityId = await App.DataSource.ScalarAsync<long>("select city_id from city where name = 'London' and country = 'United Kingdom'");
        var layout = new
        {
            sections = new object[]
            {
                new
                {
                    name = "stalls", category = "standard", rows = "A-B", seats = "1-4",
                    accessible = new object[] { new { access = "wheelchair", rows = "A", seats = "1-1" }, new { access = "companion", rows = "A", seats = "2-2" } },
                    blocked = new object[] { new { rows = "B", seats = "4-4" } },
                },
            },
        };
        var venue = await organizer.PostAsJsonAsync("/venues", new { name = $"Blocks {Guid.NewGuid():N}", kind = "cinema_hall", city_id = cityId, layout }).ExpectAsync(HttpStatusCode.Created);
        var venueId = venue["venue_id"]!.GetValue<long>();
        var film = await organizer.PostAsJsonAsync("/events", new { kind = "film", title = "Blocked seats", duration_minutes = 60 }).ExpectAsync(HttpStatusCode.Created);

        var details = await organizer.GetAsync($"/venues/{venueId}").ExpectAsync(HttpStatusCode.OK);
        var layoutSeats = details["seats"]!.AsArray().ToDictionary(s => s!["label"]!.GetValue<string>());
        Assert.Equal("wheelchair", layoutSeats["A1"]!["access"]!.GetValue<string>());
        Assert.Equal("companion", layoutSeats["A2"]!["access"]!.GetValue<string>());
        Assert.Null(layoutSeats["A3"]!["access"]);
        Assert.True(layoutSeats["B4"]!["blocked"]!.GetValue<bool>());

        var first = await ShowAsync(organizer, film["event_id"]!.GetValue<long>(), venueId, 10);
        Assert.Equal(["B4"], await StatesAsync(organizer, first, "blocked"));
        var map = await organizer.GetAsync($"/shows/{first}/seats").ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("wheelchair", map["seats"]!.AsArray().Single(s => s!["label"]!.GetValue<string>() == "A1")!["access"]!.GetValue<string>());

        var marked = await organizer.PostAsJsonAsync($"/venues/{venueId}/blocks", new { seats = new[] { "B1", "B4" }, reason = "broken" }).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(["B1"], marked["changed"].Strings());
        Assert.Equal(["B4"], marked["unchanged"].Strings());
        var cleared = await organizer.DeleteAsync($"/venues/{venueId}/blocks?seats=B4").ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(["B4"], cleared["changed"].Strings());
        Assert.Equal(1L, await App.DataSource.ScalarAsync<long>($"select count(*) from audit_log where action = 'venue.seats_blocked' and entity_id = {venueId}"));

        // The existing show is not changed; a new one starts with the layout's blocks.
        Assert.Equal(["B4"], await StatesAsync(organizer, first, "blocked"));
        var second = await ShowAsync(organizer, film["event_id"]!.GetValue<long>(), venueId, 11);
        Assert.Equal(["B1"], await StatesAsync(organizer, second, "blocked"));

        var (other, _) = await App.OrganizerAsync();
        await other.PostAsJsonAsync($"/venues/{venueId}/blocks", new { seats = new[] { "B2" }, reason = "mine" }).ExpectAsync(HttpStatusCode.NotFound);
        await organizer.PostAsJsonAsync($"/venues/{venueId}/blocks", new { seats = new[] { "Z9" }, reason = "x" }).ExpectAsync(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task A_layout_with_a_bad_access_kind_is_400()
    {
        var (organizer, _) = await App.OrganizerAsync();
        var layout = new { sections = new object[] { new { name = "s", category = "standard", rows = "A", seats = "1-2", accessible = new object[] { new { access = "vip", rows = "A", seats = "1-1" } } } } };
        var problem = await organizer.PostAsJsonAsync("/venues", new { name = $"Bad {Guid.NewGuid():N}", kind = "coach", layout }).ExpectAsync(HttpStatusCode.BadRequest);
        Assert.NotNull(problem["errors"]!["layout.sections[0].accessible"]);
    }

    private static async Task<long> ShowAsync(HttpClient organizer, long eventId, long venueId, int days)
    {
        var show = await organizer.PostAsJsonAsync("/shows", new
        {
            event_id = eventId,
            venue_id = venueId,
            starts_at = DateTimeOffset.UtcNow.AddDays(days),
            currency = "GBP",
            prices = new Dictionary<string, long> { ["standard"] = 1000 },
        }).ExpectAsync(HttpStatusCode.Created);
        return show["show_id"]!.GetValue<long>();
    }

    private static async Task<string[]> StatesAsync(HttpClient client, long showId, string state)
    {
        var map = await client.GetAsync($"/shows/{showId}/seats").ExpectAsync(HttpStatusCode.OK);
        return map["seats"]!.AsArray().Where(s => s!["state"]!.GetValue<string>() == state).Select(s => s!["label"]!.GetValue<string>()).Order().ToArray();
    }
}

using System.Net;
using System.Net.Http.Json;
using Holdfast.Tests.Infrastructure;

namespace Holdfast.Tests.Features.Shows;

public sealed class ManageShowsTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    private TestApp App => fixture.App;

    private static readonly object HallLayout = new
    {
        sections = new object[] { new { name = "stalls", category = "standard", rows = "A-C", seats = "1-6", categories = new object[] { new { category = "premium", rows = "C", seats = "2-5" } } } },
    };

    [Fact]
    public async Task An_organizer_creates_a_film_and_screens_it_with_prices_and_inventory()
    {
        var (organizer, _) = await App.OrganizerAsync();
        var (venueId, _) = await HallAsync(organizer);
        var film = await organizer.PostAsJsonAsync("/events", new { kind = "film", title = "The Kid (1921)", duration_minutes = 68 }).ExpectAsync(HttpStatusCode.Created);
        var startsAt = DateTimeOffset.UtcNow.AddDays(5);

        var show = await organizer.PostAsJsonAsync("/shows", new
        {
            event_id = film["event_id"]!.GetValue<long>(),
            venue_id = venueId,
            starts_at = startsAt,
            currency = "JPY",
            prices = new Dictionary<string, long> { ["standard"] = 1800, ["premium"] = 2500 },
        }).ExpectAsync(HttpStatusCode.Created);

        Assert.Equal(18, show["seat_count"]!.GetValue<int>());
        var details = await organizer.GetAsync($"/shows/{show["show_id"]}").ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("JPY", details["currency"]!.GetValue<string>());
        Assert.Equal(0, details["currency_exponent"]!.GetValue<int>());
        Assert.Equal("Europe/London", details["time_zone"]!.GetValue<string>());
        Assert.Equal(startsAt.AddMinutes(68).ToUnixTimeSeconds(), details["ends_at"]!.GetValue<DateTimeOffset>().ToUnixTimeSeconds());
        var (customer, _) = await App.CustomerAsync();
        var hold = await customer.PostAsJsonAsync($"/shows/{show["show_id"]}/holds", new { seats = new[] { "C2" } }).ExpectAsync(HttpStatusCode.Created);
        Assert.Equal(2500, hold["total_minor"]!.GetValue<long>());
    }

    [Fact]
    public async Task Shows_in_one_hall_may_not_overlap_but_a_cancelled_one_frees_the_slot()
    {
        var (organizer, _) = await App.OrganizerAsync();
        var (venueId, eventId) = await HallAsync(organizer);
        var startsAt = DateTimeOffset.UtcNow.AddDays(6);
        object Body(DateTimeOffset at) => new { event_id = eventId, venue_id = venueId, starts_at = at, currency = "GBP", prices = new Dictionary<string, long> { ["standard"] = 900 } };

        var first = await organizer.PostAsJsonAsync("/shows", Body(startsAt)).ExpectAsync(HttpStatusCode.Created);
        await organizer.PostAsJsonAsync("/shows", Body(startsAt.AddMinutes(30))).ExpectAsync(HttpStatusCode.Conflict);
        await organizer.PostAsJsonAsync("/shows", Body(startsAt.AddMinutes(100))).ExpectAsync(HttpStatusCode.Created);

        await organizer.PostAsync($"/shows/{first["show_id"]}/cancel", null).ExpectAsync(HttpStatusCode.OK);
        await organizer.PostAsJsonAsync("/shows", Body(startsAt.AddMinutes(10))).ExpectAsync(HttpStatusCode.Created);
    }

    [Theory]
    [InlineData("past", "starts_at")]
    [InlineData("currency", "currency")]
    [InlineData("unknown_currency", "currency")]
    [InlineData("negative", "prices.standard")]
    [InlineData("unknown_category", "prices")]
    [InlineData("window", "sales_closes_at")]
    public async Task Invalid_shows_return_400_naming_the_field(string problem, string field)
    {
        var (organizer, _) = await App.OrganizerAsync();
        var (venueId, eventId) = await HallAsync(organizer);
        var startsAt = problem == "past" ? DateTimeOffset.UtcNow.AddHours(-1) : DateTimeOffset.UtcNow.AddDays(7);
        var body = new
        {
            event_id = eventId,
            venue_id = venueId,
            starts_at = startsAt,
            currency = problem switch { "currency" => "pounds", "unknown_currency" => "XYZ", _ => "GBP" },
            prices = new Dictionary<string, long> { [problem == "unknown_category" ? "royal_box" : "standard"] = problem == "negative" ? -1 : 900 },
            sales_closes_at = problem == "window" ? startsAt.AddHours(1) : (DateTimeOffset?)null,
        };

        var response = await organizer.PostAsJsonAsync("/shows", body).ExpectAsync(HttpStatusCode.BadRequest);
        Assert.True(response["errors"]!.AsObject().ContainsKey(field), response.ToJsonString());
    }

    [Fact]
    public async Task Organizers_schedule_only_their_own_events_at_their_own_venues()
    {
        var (owner, _) = await App.OrganizerAsync();
        var (other, _) = await App.OrganizerAsync();
        var (venueId, eventId) = await HallAsync(owner);
        var (otherVenue, otherEvent) = await HallAsync(other);
        var at = DateTimeOffset.UtcNow.AddDays(8);
        var prices = new Dictionary<string, long> { ["standard"] = 900 };

        await other.PostAsJsonAsync("/shows", new { event_id = eventId, venue_id = otherVenue, starts_at = at, currency = "GBP", prices }).ExpectAsync(HttpStatusCode.NotFound);
        await other.PostAsJsonAsync("/shows", new { event_id = otherEvent, venue_id = venueId, starts_at = at, currency = "GBP", prices }).ExpectAsync(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Cancelling_a_show_releases_live_holds_on_the_feed_and_refuses_new_ones()
    {
        var (organizer, organizerId) = await App.OrganizerAsync();
        var show = await TestCatalogue.ShowAsync(App.DataSource, rows: 3, seatsPerRow: 4, ownerId: organizerId);
        var (customer, _) = await App.CustomerAsync();
        await customer.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "1A", "1B" } }).ExpectAsync(HttpStatusCode.Created);
        await customer.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "2A" } }).ExpectAsync(HttpStatusCode.Created);
        await using var feed = await SseSubscriber.OpenAsync(App.CreateClient(), $"/shows/{show.ShowId}/seats/stream");
        await feed.NextAsync();

        var cancelled = await organizer.PostAsync($"/shows/{show.ShowId}/cancel", null).ExpectAsync(HttpStatusCode.OK);

        Assert.Equal(2, cancelled["holds_released"]!.GetValue<int>());
        var released = await feed.NextAsync();
        Assert.Equal("released", released.Data["kind"]!.GetValue<string>());
        Assert.Equal(3, released.Data["seat_ids"]!.AsArray().Count);
        await customer.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "3A" } }).ExpectAsync(HttpStatusCode.Conflict);
        await organizer.PostAsync($"/shows/{show.ShowId}/cancel", null).ExpectAsync(HttpStatusCode.Conflict);
        var (stranger, _) = await App.OrganizerAsync();
        await stranger.PostAsync($"/shows/{show.ShowId}/cancel", null).ExpectAsync(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Holds_racing_a_cancellation_never_survive_it()
    {
        var (organizer, organizerId) = await App.OrganizerAsync();
        var customers = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => App.CustomerAsync()));
        for (var round = 0; round < 5; round++)
        {
            var show = await TestCatalogue.ShowAsync(App.DataSource, rows: 5, seatsPerRow: 10, premiumRows: 0, ownerId: organizerId);
            using var barrier = new Barrier(customers.Length + 1);
            var holds = customers.Select(c => Task.Run(async () =>
            {
                barrier.SignalAndWait();
                using var r = await c.Client.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { category = "standard", quantity = 2 });
                return r.StatusCode;
            })).ToList();
            var cancel = Task.Run(async () =>
            {
                barrier.SignalAndWait();
                using var r = await organizer.PostAsync($"/shows/{show.ShowId}/cancel", null);
                return r.StatusCode;
            });

            Assert.Equal(HttpStatusCode.OK, await cancel);
            Assert.All(await Task.WhenAll(holds), s => Assert.True(s is HttpStatusCode.Created or HttpStatusCode.Conflict, s.ToString()));
            Assert.Equal(0L, await App.DataSource.ScalarAsync<long>(
                $"select (select count(*) from hold where show_id = {show.ShowId} and status = 'active') + (select count(*) from show_seat where show_id = {show.ShowId} and state <> 'available')"));
        }
    }

    [Fact]
    public async Task A_show_written_by_plain_SQL_still_gets_its_venues_overlap_rule()
    {
        // TestCatalogue inserts into show without naming exclusive_venue; its venue is a cinema hall.
        var show = await TestCatalogue.ShowAsync(App.DataSource, rows: 1, seatsPerRow: 1, premiumRows: 0);
        Assert.True(await App.DataSource.ScalarAsync<bool>($"select exclusive_venue from show where show_id = {show.ShowId}"));
    }

    [Fact]
    public async Task Moving_and_repricing_a_show_keeps_locked_prices_and_the_overlap_rule()
    {
        var (organizer, _) = await App.OrganizerAsync();
        var (venueId, eventId) = await HallAsync(organizer);
        var startsAt = DateTimeOffset.UtcNow.AddDays(9);
        object Body(DateTimeOffset at) => new { event_id = eventId, venue_id = venueId, starts_at = at, currency = "GBP", prices = new Dictionary<string, long> { ["standard"] = 900 } };
        var show = (await organizer.PostAsJsonAsync("/shows", Body(startsAt)).ExpectAsync(HttpStatusCode.Created))["show_id"]!.GetValue<long>();
        await organizer.PostAsJsonAsync("/shows", Body(startsAt.AddHours(3))).ExpectAsync(HttpStatusCode.Created);
        var (customer, _) = await App.CustomerAsync();
        var before = await customer.PostAsJsonAsync($"/shows/{show}/holds", new { seats = new[] { "A1" } }).ExpectAsync(HttpStatusCode.Created);

        await organizer.PatchAsJsonAsync($"/shows/{show}", new { prices = new Dictionary<string, long> { ["standard"] = 1100 } }).ExpectAsync(HttpStatusCode.NoContent);
        var after = await customer.PostAsJsonAsync($"/shows/{show}/holds", new { seats = new[] { "A2" } }).ExpectAsync(HttpStatusCode.Created);
        Assert.Equal((900L, 1100L), (before["total_minor"]!.GetValue<long>(), after["total_minor"]!.GetValue<long>()));
        // The audit log keeps the prices as they were, as JSON.
        Assert.Equal(900L, await App.DataSource.ScalarAsync<long>(
            $"select (before->'prices'->>'standard')::bigint from audit_log where action = 'show.updated' and entity_id = {show} order by audit_log_id limit 1"));

        await organizer.PatchAsJsonAsync($"/shows/{show}", new { starts_at = startsAt.AddHours(3).AddMinutes(10) }).ExpectAsync(HttpStatusCode.Conflict);
        await organizer.PatchAsJsonAsync($"/shows/{show}", new { starts_at = startsAt.AddHours(-2) }).ExpectAsync(HttpStatusCode.NoContent);
        var moved = await customer.GetAsync($"/shows/{show}").ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(startsAt.AddHours(-2).ToUnixTimeSeconds(), moved["starts_at"]!.GetValue<DateTimeOffset>().ToUnixTimeSeconds());

        await organizer.PatchAsJsonAsync($"/shows/{show}", new { starts_at = DateTimeOffset.UtcNow.AddDays(-1) }).ExpectAsync(HttpStatusCode.BadRequest);
        await organizer.PatchAsJsonAsync($"/shows/{show}", new { prices = new Dictionary<string, long> { ["royal_box"] = 1 } }).ExpectAsync(HttpStatusCode.BadRequest);
        var negative = await organizer.PatchAsJsonAsync($"/shows/{show}", new { prices = new Dictionary<string, long> { ["standard"] = -1 } }).ExpectAsync(HttpStatusCode.BadRequest);
        Assert.NotNull(negative["errors"]!["prices.standard"]);
        var (stranger, _) = await App.OrganizerAsync();
        await stranger.PatchAsJsonAsync($"/shows/{show}", new { prices = new Dictionary<string, long> { ["standard"] = 1 } }).ExpectAsync(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Changing_an_events_duration_moves_its_shows_ends_unless_that_would_overlap()
    {
        var (organizer, _) = await App.OrganizerAsync();
        var (venueId, eventId) = await HallAsync(organizer);
        var startsAt = DateTimeOffset.UtcNow.AddDays(11);
        var prices = new Dictionary<string, long> { ["standard"] = 900 };
        var first = (await organizer.PostAsJsonAsync("/shows", new { event_id = eventId, venue_id = venueId, starts_at = startsAt, currency = "GBP", prices })
            .ExpectAsync(HttpStatusCode.Created))["show_id"]!.GetValue<long>();
        await organizer.PostAsJsonAsync("/shows", new { event_id = eventId, venue_id = venueId, starts_at = startsAt.AddMinutes(60), currency = "GBP", prices })
            .ExpectAsync(HttpStatusCode.Created);

        await organizer.PatchAsJsonAsync($"/events/{eventId}", new { title = "Sherlock Jr. (1924), restored", duration_minutes = 50 }).ExpectAsync(HttpStatusCode.NoContent);
        var show = await organizer.GetAsync($"/shows/{first}").ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("Sherlock Jr. (1924), restored", show["title"]!.GetValue<string>());
        Assert.Equal(startsAt.AddMinutes(50).ToUnixTimeSeconds(), show["ends_at"]!.GetValue<DateTimeOffset>().ToUnixTimeSeconds());
        Assert.Equal("Sherlock Jr. (1924)", await App.DataSource.ScalarAsync<string>(
            $"select before->>'title' from audit_log where action = 'event.updated' and entity_id = {eventId} order by audit_log_id limit 1"));

        await organizer.PatchAsJsonAsync($"/events/{eventId}", new { duration_minutes = 90 }).ExpectAsync(HttpStatusCode.Conflict);
        await organizer.PatchAsJsonAsync($"/events/{eventId}", new { duration_minutes = 0 }).ExpectAsync(HttpStatusCode.BadRequest);
        var (stranger, _) = await App.OrganizerAsync();
        await stranger.PatchAsJsonAsync($"/events/{eventId}", new { title = "Mine now" }).ExpectAsync(HttpStatusCode.NotFound);
    }

    private async Task<(long VenueId, long EventId)> HallAsync(HttpClient organizer)
    {
        await TestCatalogue.AirportAsync(App.DataSource, "LCY", "London", "United Kingdom", "Europe/London");
        var cityId = await App.DataSource.ScalarAsync<long>("select city_id from city where name = 'London' and country = 'United Kingdom'");
        var venue = await organizer.PostAsJsonAsync("/venues", new { name = $"Hall {Guid.NewGuid():N}", kind = "cinema_hall", city_id = cityId, layout = HallLayout }).ExpectAsync(HttpStatusCode.Created);
        var film = await organizer.PostAsJsonAsync("/events", new { kind = "film", title = "Sherlock Jr. (1924)", duration_minutes = 45 }).ExpectAsync(HttpStatusCode.Created);
        return (venue["venue_id"]!.GetValue<long>(), film["event_id"]!.GetValue<long>());
    }
}

using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Holdfast.Tests.Infrastructure;

namespace Holdfast.Tests.Features.Shows;

public sealed class ScheduleShowsTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    private TestApp App => fixture.App;

    private static long Id(JsonObject body, string field) => body[field]!.GetValue<long>();

    /// <summary>An organizer with a London hall and an event of <paramref name="minutes"/>.</summary>
    private async Task<(HttpClient Organizer, long VenueId, long EventId)> ArrangeAsync(int minutes = 90)
    {
        var (admin, _) = await App.AdminAsync();
        var city = Id(await admin.PostAsJsonAsync("/cities", new { name = $"Timetown {Guid.NewGuid():N}", country = "Testland", time_zone = "Europe/London" })
            .ExpectAsync(HttpStatusCode.Created), "id");
        var (organizer, _) = await App.OrganizerAsync();
        var venue = Id(await organizer.PostAsJsonAsync("/venues", new
        {
            name = $"Hall {Guid.NewGuid():N}",
            kind = "cinema_hall",
            city_id = city,
            layout = new { sections = new object[] { new { name = "stalls", category = "standard", rows = "A-B", seats = "1-3" } } },
        }).ExpectAsync(HttpStatusCode.Created), "venue_id");
        var film = Id(await organizer.PostAsJsonAsync("/events", new { kind = "film", title = $"Timetabled {Guid.NewGuid():N}", duration_minutes = minutes })
            .ExpectAsync(HttpStatusCode.Created), "event_id");
        return (organizer, venue, film);
    }

    private static object Timetable(long eventId, long venueId, string first, string last, string[] times, int[]? days = null) => new
    {
        event_id = eventId,
        venue_id = venueId,
        first_date = first,
        last_date = last,
        local_times = times,
        days_of_week = days,
        currency = "GBP",
        prices = new Dictionary<string, long> { ["standard"] = 1200 },
    };

    private Task<long> ShowsOfAsync(long eventId) => App.DataSource.ScalarAsync<long>($"select count(*) from show where event_id = {eventId}");

    [Fact]
    public async Task A_timetable_schedules_local_times_across_a_clock_change_and_skips_what_overlaps_an_existing_show()
    {
        var (organizer, venue, film) = await ArrangeAsync();
        // An existing show at 08:30 London time on Tuesday 30 March 2027 (BST, UTC+1) is in the way.
        var existing = Id(await organizer.PostAsJsonAsync("/shows", new
        {
            event_id = film,
            venue_id = venue,
            starts_at = DateTimeOffset.Parse("2027-03-30T07:30:00Z", System.Globalization.CultureInfo.InvariantCulture),
            currency = "GBP",
            prices = new Dictionary<string, long> { ["standard"] = 1000 },
        }).ExpectAsync(HttpStatusCode.Created), "show_id");

        // Friday 26 March to Thursday 1 April 2027, weekdays only, 08:00 local; clocks go forward on Sunday 28 March.
        var body = await organizer.PostAsJsonAsync("/shows/timetable", Timetable(film, venue, "2027-03-26", "2027-04-01", ["08:00"], [1, 2, 3, 4, 5]))
            .ExpectAsync(HttpStatusCode.OK);

        Assert.Equal("Europe/London", body["time_zone"]!.GetValue<string>());
        Assert.Equal(6, body["seats_per_show"]!.GetValue<int>());
        var created = body["created"]!.AsArray().Select(c => c!["starts_at"]!.GetValue<DateTimeOffset>().UtcDateTime.ToString("yyyy-MM-dd HH:mm")).ToArray();
        Assert.Equal(["2027-03-26 08:00", "2027-03-29 07:00", "2027-03-31 07:00", "2027-04-01 07:00"], created);
        Assert.Equal("2027-03-29T08:00:00+01:00", body["created"]![1]!["local_starts_at"]!.GetValue<string>());
        var skipped = body["skipped"]!.AsArray().Single()!;
        Assert.Equal(("2027-03-30", "08:00", "overlaps_show", existing),
            (skipped["local_date"]!.GetValue<string>(), skipped["local_time"]!.GetValue<string>(), skipped["reason"]!.GetValue<string>(), Id(skipped.AsObject(), "overlapping_show_id")));

        // Each show is a whole show: prices, seats for sale, an audit row, as POST /shows makes it.
        var ids = body["created"]!.AsArray().Select(c => Id(c!.AsObject(), "show_id")).ToArray();
        Assert.Equal(6L * ids.Length, await App.DataSource.ScalarAsync<long>("select count(*) from show_seat where show_id = any($1) and state = 'available'", ids));
        Assert.Equal((long)ids.Length, await App.DataSource.ScalarAsync<long>("select count(*) from show_price where show_id = any($1) and amount_minor = 1200", ids));
        Assert.Equal((long)ids.Length, await App.DataSource.ScalarAsync<long>("select count(*) from audit_log where action = 'show.created' and entity_id = any($1)", ids));
        using var anyone = App.CreateClient();
        await anyone.GetAsync($"/shows/{ids[0]}/seats").ExpectAsync(HttpStatusCode.OK);
    }

    [Fact]
    public async Task A_timetable_whose_occurrence_fails_half_way_writes_nothing_at_all()
    {
        // Ten hours long, at 08:00 and 12:00: each day's second show overlaps its first.
        var (organizer, venue, film) = await ArrangeAsync(minutes: 600);
        var problem = await organizer.PostAsJsonAsync("/shows/timetable", Timetable(film, venue, "2027-05-03", "2027-05-07", ["08:00", "12:00"]))
            .ExpectAsync(HttpStatusCode.Conflict);

        Assert.Equal("Occurrence overlaps.", problem["title"]!.GetValue<string>());
        Assert.Equal(DateTimeOffset.Parse("2027-05-03T12:00:00+01:00", System.Globalization.CultureInfo.InvariantCulture), problem["occurrence"]!.GetValue<DateTimeOffset>());
        Assert.Equal(0L, await ShowsOfAsync(film));
        Assert.Equal(0L, await App.DataSource.ScalarAsync<long>(
            $"select count(*) from audit_log where action = 'show.created' and after->>'event_id' = '{film}'"));

        // The same timetable once a day goes through.
        var body = await organizer.PostAsJsonAsync("/shows/timetable", Timetable(film, venue, "2027-05-03", "2027-05-07", ["08:00"])).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(5, body["created"]!.AsArray().Count);
        Assert.Equal(5L, await ShowsOfAsync(film));
    }

    [Fact]
    public async Task A_timetable_is_checked_before_anything_is_written()
    {
        var (organizer, venue, film) = await ArrangeAsync();
        var tooMany = await organizer.PostAsJsonAsync("/shows/timetable", Timetable(film, venue, "2027-06-01", "2027-12-31", ["10:00", "20:00"]))
            .ExpectAsync(HttpStatusCode.UnprocessableEntity);
        Assert.Contains("428 occurrences", tooMany["errors"]!["last_date"]![0]!.GetValue<string>());

        var invalid = await organizer.PostAsJsonAsync("/shows/timetable", new
        {
            event_id = film,
            venue_id = venue,
            first_date = "2027-06-10",
            last_date = "2027-06-01",
            local_times = new[] { "25:00" },
            days_of_week = new[] { 0 },
            currency = "gbp",
            prices = new Dictionary<string, long>(),
        }).ExpectAsync(HttpStatusCode.BadRequest);
        Assert.Equal(["currency", "days_of_week", "last_date", "local_times", "prices"], invalid["errors"]!.AsObject().Select(e => e.Key).Order());

        var (other, _) = await App.OrganizerAsync();
        await other.PostAsJsonAsync("/shows/timetable", Timetable(film, venue, "2027-06-01", "2027-06-02", ["10:00"])).ExpectAsync(HttpStatusCode.NotFound);
        Assert.Equal(0L, await ShowsOfAsync(film));
    }
}

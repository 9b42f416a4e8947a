using System.Net;
using System.Net.Http.Json;
using Holdfast.Tests.Infrastructure;

namespace Holdfast.Tests.Features.Venues;

public sealed class ManageVenuesTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    private TestApp App => fixture.App;

    private static readonly object Layout = new { sections = new object[] { new { name = "stalls", category = "standard", rows = "A-B", seats = "1-4" } } };

    private static long Id(System.Text.Json.Nodes.JsonObject body, string field) => body[field]!.GetValue<long>();

    private async Task<long> CityAsync()
    {
        var (admin, _) = await App.AdminAsync();
        return Id(await admin.PostAsJsonAsync("/cities", new { name = $"Venueville {Guid.NewGuid():N}", country = "Testland", time_zone = "Europe/London" })
            .ExpectAsync(HttpStatusCode.Created), "id");
    }

    private static async Task<long> VenueAsync(HttpClient organizer, long cityId, long? groupId = null, string? name = null) =>
        Id(await organizer.PostAsJsonAsync("/venues", new { name = name ?? $"Hall {Guid.NewGuid():N}", kind = "cinema_hall", city_id = cityId, layout = Layout, venue_group_id = groupId })
            .ExpectAsync(HttpStatusCode.Created), "venue_id");

    private static Task<HttpResponseMessage> ShowAsync(HttpClient organizer, long eventId, long venueId, int daysAhead) =>
        organizer.PostAsJsonAsync("/shows", new
        {
            event_id = eventId,
            venue_id = venueId,
            starts_at = DateTimeOffset.UtcNow.AddDays(daysAhead),
            currency = "GBP",
            prices = new Dictionary<string, long> { ["standard"] = 900 },
        });

    [Fact]
    public async Task A_cinema_groups_its_halls_and_organizers_list_their_own_venues_by_group_in_keyset_pages_with_an_etag()
    {
        var cityId = await CityAsync();
        var (organizer, organizerId) = await App.OrganizerAsync();
        var (other, _) = await App.OrganizerAsync();
        var (admin, _) = await App.AdminAsync();
        var group = Id(await organizer.PostAsJsonAsync("/venue-groups", new { name = "Riverside Cinema" }).ExpectAsync(HttpStatusCode.Created), "venue_group_id");
        await organizer.PostAsJsonAsync("/venue-groups", new { name = "Riverside Cinema" }).ExpectAsync(HttpStatusCode.Conflict);
        var halls = new[] { await VenueAsync(organizer, cityId, group), await VenueAsync(organizer, cityId, group), await VenueAsync(organizer, cityId, group) };
        var loose = await VenueAsync(organizer, cityId);
        var theirs = await VenueAsync(other, cityId);

        var first = await organizer.GetAsync($"/venues?venue_group_id={group}&limit=2").ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(halls[..2], first["items"]!.AsArray().Select(v => v!["venue_id"]!.GetValue<long>()));
        Assert.All(first["items"]!.AsArray(), v => Assert.Equal(group, v!["venue_group_id"]!.GetValue<long>()));
        Assert.Equal(8, first["items"]![0]!["seat_count"]!.GetValue<int>());
        var next = await organizer.GetAsync($"/venues?venue_group_id={group}&limit=2&after_id={first["next_after_id"]}").ExpectAsync(HttpStatusCode.OK);
        Assert.Equal([halls[2]], next["items"]!.AsArray().Select(v => v!["venue_id"]!.GetValue<long>()));
        Assert.Null(next["next_after_id"]);

        var mine = (await organizer.GetAsync("/venues?limit=200").ExpectAsync(HttpStatusCode.OK))["items"]!.AsArray().Select(v => v!["venue_id"]!.GetValue<long>()).ToList();
        Assert.Equal([.. halls, loose], mine);
        var asAdmin = (await admin.GetAsync($"/venues?owner_user_id={organizerId}&limit=200").ExpectAsync(HttpStatusCode.OK))["items"]!.AsArray()
            .Select(v => v!["venue_id"]!.GetValue<long>()).ToList();
        Assert.Equal(mine, asAdmin);
        Assert.Contains(theirs, (await admin.GetAsync($"/venues?city_id={cityId}&limit=200").ExpectAsync(HttpStatusCode.OK))["items"]!.AsArray()
            .Select(v => v!["venue_id"]!.GetValue<long>()));

        var groups = await organizer.GetAsync("/venue-groups").ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(3, groups["items"]!.AsArray().Single()!["venue_count"]!.GetValue<int>());
        await other.GetAsync($"/venue-groups/{group}").ExpectAsync(HttpStatusCode.NotFound);
        Assert.Equal("Riverside Cinema", (await organizer.GetAsync($"/venue-groups/{group}").ExpectAsync(HttpStatusCode.OK))["name"]!.GetValue<string>());

        // A venue joins only a group of its own owner.
        var refused = await other.PatchAsJsonAsync($"/venues/{theirs}", new { venue_group_id = group }).ExpectAsync(HttpStatusCode.BadRequest);
        Assert.NotNull(refused["errors"]!["venue_group_id"]);

        using var request = new HttpRequestMessage(HttpMethod.Get, $"/venues?venue_group_id={group}&limit=2");
        using var etagged = await organizer.SendAsync(request);
        using var again = new HttpRequestMessage(HttpMethod.Get, $"/venues?venue_group_id={group}&limit=2");
        again.Headers.IfNoneMatch.Add(etagged.Headers.ETag!);
        using var notModified = await organizer.SendAsync(again);
        Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);
    }

    [Fact]
    public async Task A_renamed_then_archived_venue_takes_no_new_show_until_restored_and_each_change_is_audited()
    {
        var cityId = await CityAsync();
        var (organizer, _) = await App.OrganizerAsync();
        var venue = await VenueAsync(organizer, cityId, name: "Screen 1");
        var film = Id(await organizer.PostAsJsonAsync("/events", new { kind = "film", title = "Archive test", duration_minutes = 90 }).ExpectAsync(HttpStatusCode.Created), "event_id");

        await organizer.PatchAsJsonAsync($"/venues/{venue}", new { name = "Screen One" }).ExpectAsync(HttpStatusCode.NoContent);
        await organizer.PatchAsJsonAsync($"/venues/{venue}", new { archived = true }).ExpectAsync(HttpStatusCode.NoContent);
        var archived = await organizer.GetAsync($"/venues/{venue}").ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("Screen One", archived["name"]!.GetValue<string>());
        Assert.NotNull(archived["archived_at"]);
        Assert.DoesNotContain(venue, (await organizer.GetAsync("/venues").ExpectAsync(HttpStatusCode.OK))["items"]!.AsArray().Select(v => v!["venue_id"]!.GetValue<long>()));
        Assert.Contains(venue, (await organizer.GetAsync("/venues?archived=true").ExpectAsync(HttpStatusCode.OK))["items"]!.AsArray().Select(v => v!["venue_id"]!.GetValue<long>()));

        var refused = await ShowAsync(organizer, film, venue, 5).ExpectAsync(HttpStatusCode.Conflict);
        Assert.Equal("Venue archived.", refused["title"]!.GetValue<string>());
        Assert.Equal("venue_id", refused["field"]!.GetValue<string>());

        await organizer.PatchAsJsonAsync($"/venues/{venue}", new { archived = false }).ExpectAsync(HttpStatusCode.NoContent);
        await ShowAsync(organizer, film, venue, 5).ExpectAsync(HttpStatusCode.Created);

        var (other, _) = await App.OrganizerAsync();
        await other.PatchAsJsonAsync($"/venues/{venue}", new { name = "Mine now" }).ExpectAsync(HttpStatusCode.NotFound);
        var actions = await App.DataSource.ScalarAsync<string[]>(
            $"select array_agg(action order by audit_log_id) from audit_log where entity = 'venue' and entity_id = {venue} and action <> 'venue.created'");
        Assert.Equal(["venue.updated", "venue.archived", "venue.restored"], actions);
    }

    [Fact]
    public async Task Deleting_a_venue_a_show_uses_answers_409_counting_the_shows_and_an_unused_one_goes_with_its_seats()
    {
        var cityId = await CityAsync();
        var (organizer, _) = await App.OrganizerAsync();
        var used = await VenueAsync(organizer, cityId);
        var unused = await VenueAsync(organizer, cityId);
        var film = Id(await organizer.PostAsJsonAsync("/events", new { kind = "film", title = "Delete test", duration_minutes = 90 }).ExpectAsync(HttpStatusCode.Created), "event_id");
        var show = Id(await ShowAsync(organizer, film, used, 4).ExpectAsync(HttpStatusCode.Created), "show_id");
        await organizer.PostAsync($"/shows/{show}/cancel", null).ExpectAsync(HttpStatusCode.OK);

        var conflict = await organizer.DeleteAsync($"/venues/{used}").ExpectAsync(HttpStatusCode.Conflict);
        Assert.Equal(1, conflict["referenced_by"]!["shows"]!.GetValue<int>());
        await organizer.GetAsync($"/venues/{used}").ExpectAsync(HttpStatusCode.OK);

        var (other, _) = await App.OrganizerAsync();
        await other.DeleteAsync($"/venues/{unused}").ExpectAsync(HttpStatusCode.NotFound);
        await organizer.DeleteAsync($"/venues/{unused}").ExpectAsync(HttpStatusCode.NoContent);
        await organizer.GetAsync($"/venues/{unused}").ExpectAsync(HttpStatusCode.NotFound);
        Assert.Equal(0L, await App.DataSource.ScalarAsync<long>($"select count(*) from seat where venue_id = {unused}"));
        Assert.Equal(1L, await App.DataSource.ScalarAsync<long>($"select count(*) from audit_log where action = 'venue.deleted' and entity_id = {unused}"));
    }
}

using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Holdfast.Tests.Infrastructure;

namespace Holdfast.Tests.Features.Venues;

public sealed class VenueTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    private TestApp App => fixture.App;

    public static object A320Layout => new
    {
        sections = new object[]
        {
            new { name = "business", category = "business", rows = "1-3", seats = "ACDF", aisles_after = new[] { "C" } },
            new { name = "economy", category = "economy", rows = "4-32", skip_rows = new[] { "13" }, seats = "ABCDEF", aisles_after = new[] { "C" } },
        },
    };

    [Fact]
    public async Task A_compact_layout_expands_into_a_real_cabin()
    {
        var (organizer, _) = await App.OrganizerAsync();

        var created = await organizer.PostAsJsonAsync("/venues", new { name = "A320 test", kind = "aircraft_cabin", layout = A320Layout }).ExpectAsync(HttpStatusCode.Created);

        Assert.Equal(180, created["seat_count"]!.GetValue<int>());
        Assert.Equal(12, created["categories"]!["business"]!.GetValue<int>());
        Assert.Equal(168, created["categories"]!["economy"]!.GetValue<int>());
        var venue = await organizer.GetAsync($"/venues/{created["venue_id"]}").ExpectAsync(HttpStatusCode.OK);
        var seats = venue["seats"]!.AsArray().ToDictionary(s => s!["label"]!.GetValue<string>(), s => (X: s!["x"]!.GetValue<int>(), Y: s["y"]!.GetValue<int>()));
        Assert.DoesNotContain("13A", seats.Keys);
        // The aisle after C: D sits two columns to C's right.
        Assert.Equal(seats["4C"].X + 2, seats["4D"].X);
        Assert.Equal(seats["4A"].Y + 1, seats["5A"].Y);
    }

    [Fact]
    public async Task Rows_of_different_widths_are_centred_and_overrides_set_categories()
    {
        var (organizer, _) = await App.OrganizerAsync();
        var layout = new
        {
            sections = new object[]
            {
                new
                {
                    name = "stalls", category = "standard",
                    rows = new object[] { new { label = "A", seats = "1-4" }, new { label = "B", seats = "1-6" } },
                    categories = new object[] { new { category = "premium", rows = "B", seats = "3-4" } },
                },
            },
        };

        var created = await organizer.PostAsJsonAsync("/venues", new { name = "Small hall", kind = "cinema_hall", city_id = await CityAsync(), layout }).ExpectAsync(HttpStatusCode.Created);

        var venue = await organizer.GetAsync($"/venues/{created["venue_id"]}").ExpectAsync(HttpStatusCode.OK);
        var seats = venue["seats"]!.AsArray().ToDictionary(s => s!["label"]!.GetValue<string>(), s => s!);
        Assert.Equal(1, seats["A1"]["x"]!.GetValue<int>());
        Assert.Equal(0, seats["B1"]["x"]!.GetValue<int>());
        Assert.Equal(["premium", "premium"], new[] { "B3", "B4" }.Select(l => seats[l]["category"]!.GetValue<string>()));
        Assert.Equal("standard", seats["A3"]["category"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("""{"name":"x","kind":"coach","layout":{"sections":[]}}""", "layout.sections")]
    [InlineData("""{"name":"x","kind":"coach","layout":{"sections":[{"name":"a","category":"Std","rows":"1-2","seats":"AB"}]}}""", "layout.sections[0].category")]
    [InlineData("""{"name":"x","kind":"coach","layout":{"sections":[{"name":"a","category":"std","rows":"2-1","seats":"AB"}]}}""", "layout.sections[0].rows")]
    [InlineData("""{"name":"x","kind":"coach","layout":{"sections":[{"name":"a","category":"std","rows":"1-2","seats":"AAB"}]}}""", "layout.sections[0].seats")]
    [InlineData("""{"name":"x","kind":"coach","layout":{"sections":[{"name":"a","category":"std","rows":"1-2","seats":"AB"},{"name":"b","category":"std","rows":"2","seats":"AB"}]}}""", "layout.sections[1].rows")]
    [InlineData("""{"name":"x","kind":"spaceship","layout":{"sections":[{"name":"a","category":"std","rows":"1","seats":"AB"}]}}""", "kind")]
    [InlineData("""{"name":"x","kind":"cinema_hall","layout":{"sections":[{"name":"a","category":"std","rows":"1","seats":"AB"}]}}""", "city_id")]
    public async Task Invalid_layouts_return_400_naming_the_field(string body, string field)
    {
        var (organizer, _) = await App.OrganizerAsync();
        using var content = new StringContent(body, System.Text.Encoding.UTF8, "application/json");
        var problem = await organizer.PostAsync("/venues", content).ExpectAsync(HttpStatusCode.BadRequest);
        Assert.True(problem["errors"]!.AsObject().ContainsKey(field), problem.ToJsonString());
    }

    [Fact]
    public async Task A_bad_category_override_is_reported_once_not_once_per_seat()
    {
        var (organizer, _) = await App.OrganizerAsync();
        const string body = """{"name":"x","kind":"coach","layout":{"sections":[{"name":"a","category":"std","rows":"1-10","seats":"ABCD","categories":[{"category":"premium","rows":"1"}]}]}}""";
        using var content = new StringContent(body, System.Text.Encoding.UTF8, "application/json");
        var problem = await organizer.PostAsync("/venues", content).ExpectAsync(HttpStatusCode.BadRequest);
        Assert.Equal(["Each needs category, rows and seats."], problem["errors"]!["layout.sections[0].categories"]!.AsArray().Select(e => e!.GetValue<string>()));
    }

    [Fact]
    public async Task A_layout_can_change_until_a_show_on_the_venue_has_a_hold()
    {
        var (organizer, organizerId) = await App.OrganizerAsync();
        var show = await TestCatalogue.ShowAsync(App.DataSource, rows: 2, seatsPerRow: 2, premiumRows: 0, ownerId: organizerId);
        var newLayout = new { layout = new { sections = new object[] { new { name = "main", category = "standard", rows = "1-3", seats = "ABC" } } } };

        await organizer.PutAsJsonAsync($"/venues/{show.VenueId}/layout", newLayout).ExpectAsync(HttpStatusCode.NoContent);
        var map = await organizer.GetAsync($"/shows/{show.ShowId}/seats").ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(9, map["seats"]!.AsArray().Count);

        var (customer, _) = await App.CustomerAsync();
        await customer.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "3C" } }).ExpectAsync(HttpStatusCode.Created);
        await organizer.PutAsJsonAsync($"/venues/{show.VenueId}/layout", newLayout).ExpectAsync(HttpStatusCode.Conflict);

        var (stranger, _) = await App.OrganizerAsync();
        await stranger.PutAsJsonAsync($"/venues/{show.VenueId}/layout", newLayout).ExpectAsync(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Venue_names_are_unique_per_owner()
    {
        var (organizer, _) = await App.OrganizerAsync();
        var body = new { name = "Coach 7", kind = "coach", layout = new { sections = new object[] { new { name = "main", category = "standard", rows = "1-2", seats = "AB" } } } };
        await organizer.PostAsJsonAsync("/venues", body).ExpectAsync(HttpStatusCode.Created);
        await organizer.PostAsJsonAsync("/venues", body).ExpectAsync(HttpStatusCode.Conflict);
    }

    private async Task<long> CityAsync()
    {
        await TestCatalogue.AirportAsync(App.DataSource, "LCY", "London", "United Kingdom", "Europe/London");
        return await App.DataSource.ScalarAsync<long>("select city_id from city where name = 'London'");
    }
}

using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Holdfast.Tests.Infrastructure;

namespace Holdfast.Tests.Features.Search;

public sealed class SearchShowsTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    private TestApp App => fixture.App;

    [Fact]
    public async Task A_late_evening_departure_is_found_on_its_local_date_not_its_UTC_date()
    {
        await TestCatalogue.AirportAsync(App.DataSource, "HNL", "Honolulu", "United States", "Pacific/Honolulu");
        await TestCatalogue.AirportAsync(App.DataSource, "LAX", "Los Angeles", "United States", "America/Los_Angeles");
        await TestCatalogue.AirportAsync(App.DataSource, "NRT", "Narita", "Japan", "Asia/Tokyo");
        var localDate = DateOnly.FromDateTime(DateTime.UtcNow.AddDays(10));
        // 21:55 in Honolulu (UTC−10) is 07:55 UTC the next day.
        var lateHonolulu = new DateTimeOffset(localDate.ToDateTime(new TimeOnly(21, 55)), TimeSpan.FromHours(-10));
        // 06:30 in Tokyo (UTC+9) is 21:30 UTC the day before.
        var earlyTokyo = new DateTimeOffset(localDate.ToDateTime(new TimeOnly(6, 30)), TimeSpan.FromHours(9));
        var honolulu = await TestCatalogue.ShowAsync(App.DataSource, kind: "flight", originIata: "HNL", destinationIata: "LAX", startsAt: lateHonolulu, timeZone: "Pacific/Honolulu", currency: "USD");
        var tokyo = await TestCatalogue.ShowAsync(App.DataSource, kind: "flight", originIata: "NRT", destinationIata: "HNL", startsAt: earlyTokyo, timeZone: "Asia/Tokyo", currency: "JPY");

        var onDate = await Search($"?origin=HNL&date={localDate:yyyy-MM-dd}");
        var dayAfter = await Search($"?origin=HNL&date={localDate.AddDays(1):yyyy-MM-dd}");
        var tokyoOnDate = await Search($"?origin=NRT&date={localDate:yyyy-MM-dd}");
        var tokyoDayBefore = await Search($"?origin=NRT&date={localDate.AddDays(-1):yyyy-MM-dd}");

        Assert.Equal([honolulu.ShowId], Ids(onDate));
        Assert.Empty(Ids(dayAfter));
        Assert.Equal([tokyo.ShowId], Ids(tokyoOnDate));
        Assert.Empty(Ids(tokyoDayBefore));
        var item = onDate["items"]![0]!;
        Assert.Equal(lateHonolulu, item["local_starts_at"]!.GetValue<DateTimeOffset>());
        Assert.Equal("-10:00", item["local_starts_at"]!.GetValue<string>()[^6..]);
        Assert.Equal("Pacific/Honolulu", item["time_zone"]!.GetValue<string>());
    }

    [Fact]
    public async Task Origin_and_destination_match_an_IATA_code_or_a_city_name()
    {
        await TestCatalogue.AirportAsync(App.DataSource, "EDI", "Edinburgh", "United Kingdom", "Europe/London");
        await TestCatalogue.AirportAsync(App.DataSource, "LGW", "London", "United Kingdom", "Europe/London");
        var show = await TestCatalogue.ShowAsync(App.DataSource, kind: "flight", originIata: "EDI", destinationIata: "LGW");

        Assert.Contains(show.ShowId, Ids(await Search("?origin=edi&destination=LGW")));
        Assert.Contains(show.ShowId, Ids(await Search("?origin=Edinburgh&destination=london")));
        Assert.DoesNotContain(show.ShowId, Ids(await Search("?origin=LGW&destination=EDI")));
    }

    [Fact]
    public async Task Results_carry_availability_per_category_and_the_lowest_available_price()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource, rows: 2, seatsPerRow: 2, premiumRows: 1, kind: "trip");
        var (client, _) = await App.CustomerAsync();
        await client.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "2A", "2B" } }).ExpectAsync(HttpStatusCode.Created);

        var item = (await Search($"?kind=trip&q={Uri.EscapeDataString("Test trip")}&limit=100"))["items"]!.AsArray()
            .Single(i => i!["show_id"]!.GetValue<long>() == show.ShowId)!;

        Assert.Equal(2, item["seats_available"]!.GetValue<int>());
        // Standard (2000) is sold out, so the lowest price on offer is premium's.
        Assert.Equal(5000, item["lowest_price_minor"]!.GetValue<long>());
        var categories = item["categories"]!.AsArray();
        Assert.Equal(0, categories.Single(c => c!["category"]!.GetValue<string>() == "standard")!["seats_available"]!.GetValue<int>());
    }

    [Fact]
    public async Task Price_range_and_seat_count_filters_apply_to_what_is_available()
    {
        var cheap = await TestCatalogue.ShowAsync(App.DataSource, rows: 3, seatsPerRow: 2, premiumRows: 1, currency: "CHF");
        var soldOutStandard = await TestCatalogue.ShowAsync(App.DataSource, rows: 2, seatsPerRow: 2, premiumRows: 1, currency: "CHF");
        var (client, _) = await App.CustomerAsync();
        await client.PostAsJsonAsync($"/shows/{soldOutStandard.ShowId}/holds", new { seats = new[] { "2A", "2B" } }).ExpectAsync(HttpStatusCode.Created);

        Assert.Equal([cheap.ShowId], Ids(await Search("?currency=CHF&max_price=2000")));
        Assert.Equal([soldOutStandard.ShowId], Ids(await Search("?currency=CHF&min_price=2001")));
        Assert.Equal([cheap.ShowId], Ids(await Search("?currency=CHF&category=standard&min_seats=3")));
        Assert.Equal([cheap.ShowId, soldOutStandard.ShowId], Ids(await Search("?currency=CHF&category=premium&min_seats=2")));
        Assert.Empty(Ids(await Search("?currency=CHF&min_seats=5")));
    }

    [Fact]
    public async Task Keyset_pages_cover_every_show_once_in_either_sort_order()
    {
        var start = DateTimeOffset.UtcNow.AddDays(20);
        var shows = new List<long>();
        for (var i = 0; i < 7; i++)
        {
            shows.Add((await TestCatalogue.ShowAsync(App.DataSource, rows: 1, seatsPerRow: 2, premiumRows: 0, startsAt: start.AddHours(i % 3), currency: "SEK")).ShowId);
        }

        foreach (var sort in new[] { "departure", "price" })
        {
            var seen = new List<long>();
            string? cursor = null;
            var pages = 0;
            do
            {
                var page = await Search($"?currency=SEK&sort={sort}&limit=3" + (cursor is null ? "" : $"&cursor={cursor}"));
                seen.AddRange(Ids(page));
                cursor = page["next_cursor"]?.GetValue<string>();
                pages++;
            }
            while (cursor is not null && pages < 10);

            Assert.Equal(3, pages);
            Assert.Equal(shows.Order(), seen.Order());
            Assert.Equal(seen.Count, seen.Distinct().Count());
        }
    }

    [Theory]
    [InlineData("?date=2026-13-01", "date")]
    [InlineData("?date=tomorrow", "date")]
    [InlineData("?kind=concert", "kind")]
    [InlineData("?sort=cheapest", "sort")]
    [InlineData("?limit=0", "limit")]
    [InlineData("?limit=101", "limit")]
    [InlineData("?min_price=-1", "min_price")]
    [InlineData("?min_price=10&max_price=5", "max_price")]
    [InlineData("?min_seats=abc", "min_seats")]
    [InlineData("?currency=euro", "currency")]
    [InlineData("?cursor=not-a-cursor", "cursor")]
    public async Task Bad_search_parameters_return_400_naming_the_parameter(string query, string field)
    {
        using var client = App.CreateClient();
        var problem = await client.GetAsync("/shows" + query).ExpectAsync(HttpStatusCode.BadRequest);
        Assert.True(problem["errors"]!.AsObject().ContainsKey(field), problem.ToJsonString());
    }

    [Fact]
    public async Task A_cursor_from_one_sort_is_refused_by_the_other()
    {
        for (var i = 0; i < 3; i++)
        {
            await TestCatalogue.ShowAsync(App.DataSource, rows: 1, seatsPerRow: 1, premiumRows: 0, currency: "NOK");
        }

        var page = await Search("?currency=NOK&limit=1");
        var cursor = page["next_cursor"]!.GetValue<string>();
        using var client = App.CreateClient();
        await client.GetAsync($"/shows?currency=NOK&limit=1&sort=price&cursor={cursor}").ExpectAsync(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task Show_details_report_prices_and_availability()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource, rows: 2, seatsPerRow: 3, premiumRows: 1);
        using var client = App.CreateClient();

        var details = await client.GetAsync($"/shows/{show.ShowId}").ExpectAsync(HttpStatusCode.OK);

        Assert.Equal("on_sale", details["status"]!.GetValue<string>());
        var categories = details["categories"]!.AsArray();
        Assert.Equal(["premium", "standard"], categories.Select(c => c!["category"]!.GetValue<string>()).ToArray());
        Assert.All(categories, c => Assert.Equal(3, c!["seats_available"]!.GetValue<int>()));
        await client.GetAsync("/shows/999999").ExpectAsync(HttpStatusCode.NotFound);
    }

    private async Task<JsonObject> Search(string query)
    {
        using var client = App.CreateClient();
        return await client.GetAsync("/shows" + query).ExpectAsync(HttpStatusCode.OK);
    }

    private static long[] Ids(JsonObject page) => page["items"]!.AsArray().Select(i => i!["show_id"]!.GetValue<long>()).ToArray();
}

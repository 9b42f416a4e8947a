using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Holdfast.Tests.Infrastructure;

namespace Holdfast.Tests.Features.Reports;

public sealed class ReportTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    private TestApp App => fixture.App;

    [Fact]
    public async Task An_organizer_sees_sold_held_available_and_revenue_of_their_own_shows_only()
    {
        var (organizer, organizerId) = await App.OrganizerAsync();
        var (other, otherId) = await App.OrganizerAsync();
        var mine = await TestCatalogue.ShowAsync(App.DataSource, rows: 2, seatsPerRow: 5, premiumRows: 1, ownerId: organizerId, currency: "EUR");
        var theirs = await TestCatalogue.ShowAsync(App.DataSource, rows: 2, seatsPerRow: 5, ownerId: otherId);
        var (customer, _) = await App.CustomerAsync();
        var sold = await customer.PostAsJsonAsync($"/shows/{mine.ShowId}/holds", new { seats = new[] { "1A", "2A", "2B" } }).ExpectAsync(HttpStatusCode.Created);
        await customer.PostAsync($"/holds/{sold["hold_id"]}/booking", null).ExpectAsync(HttpStatusCode.Created);
        await customer.PostAsJsonAsync($"/shows/{mine.ShowId}/holds", new { seats = new[] { "2C" } }).ExpectAsync(HttpStatusCode.Created);

        var rows = (await organizer.GetFromJsonAsync<JsonArray>("/reports/shows"))!;

        var row = Assert.Single(rows)!;
        Assert.Equal(mine.ShowId, row["show_id"]!.GetValue<long>());
        Assert.Equal((3, 1, 6), (row["sold"]!.GetValue<int>(), row["held"]!.GetValue<int>(), row["available"]!.GetValue<int>()));
        Assert.Equal(5000 + 2000 + 2000, row["revenue_minor"]!.GetValue<long>());
        Assert.Equal("EUR", row["currency"]!.GetValue<string>());
        Assert.DoesNotContain((await other.GetFromJsonAsync<JsonArray>("/reports/shows"))!, r => r!["show_id"]!.GetValue<long>() == mine.ShowId);
        Assert.Contains((await other.GetFromJsonAsync<JsonArray>("/reports/shows"))!, r => r!["show_id"]!.GetValue<long>() == theirs.ShowId);

        var daily = (await organizer.GetFromJsonAsync<JsonArray>("/reports/revenue/daily"))!;
        var today = Assert.Single(daily)!;
        Assert.Equal(("EUR", 1, 9000L), (today["currency"]!.GetValue<string>(), today["bookings"]!.GetValue<int>(), today["revenue_minor"]!.GetValue<long>()));
        await organizer.GetAsync("/reports/revenue/daily?from=2026-05-02&to=2026-05-01").ExpectAsync(HttpStatusCode.BadRequest);
    }
}

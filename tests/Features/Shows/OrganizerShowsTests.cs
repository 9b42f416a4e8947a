using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Holdfast.Tests.Infrastructure;

namespace Holdfast.Tests.Features.Shows;

public sealed class OrganizerShowsTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    private TestApp App => fixture.App;

    [Fact]
    public async Task An_organizer_lists_their_shows_by_start_with_seats_sold_held_available_blocked_revenue_and_check_ins()
    {
        var (organizer, organizerId) = await App.OrganizerAsync();
        var (other, _) = await App.OrganizerAsync();
        var start = DateTimeOffset.UtcNow.AddDays(3);
        var shows = new List<TestShow>();
        foreach (var days in new[] { 2, 0, 1 })
        {
            shows.Add(await TestCatalogue.ShowAsync(App.DataSource, rows: 2, seatsPerRow: 5, premiumRows: 0, startsAt: start.AddDays(days), ownerId: organizerId));
        }

        // On the earliest show: one seat sold (2000 minor units of GBP), two held, one blocked.
        var sold = shows[1];
        var (customer, _) = await App.CustomerAsync();
        var bought = (await customer.PostAsJsonAsync($"/shows/{sold.ShowId}/holds", new { category = "standard", quantity = 1 }).ExpectAsync(HttpStatusCode.Created))["hold_id"];
        await customer.PostAsync($"/holds/{bought}/booking", null).ExpectAsync(HttpStatusCode.Created);
        await customer.PostAsJsonAsync($"/shows/{sold.ShowId}/holds", new { category = "standard", quantity = 2 }).ExpectAsync(HttpStatusCode.Created);
        await using (var block = App.DataSource.CreateCommand(
            $"update show_seat set state = 'blocked' where show_id = {sold.ShowId} and seat_id = (select min(seat_id) from show_seat where show_id = {sold.ShowId} and state = 'available')"))
        {
            Assert.Equal(1, await block.ExecuteNonQueryAsync());
        }

        var first = await organizer.GetAsync("/organizer/shows?limit=2").ExpectAsync(HttpStatusCode.OK);
        var items = first["items"]!.AsArray();
        Assert.Equal([shows[1].ShowId, shows[2].ShowId], items.Select(i => i!["show_id"]!.GetValue<long>()));
        var figures = items[0]!;
        Assert.Equal((1, 2, 6, 1, 2000L, "GBP", 0),
            (figures["sold"]!.GetValue<int>(), figures["held"]!.GetValue<int>(), figures["available"]!.GetValue<int>(), figures["blocked"]!.GetValue<int>(),
             figures["revenue_minor"]!.GetValue<long>(), figures["currency"]!.GetValue<string>(), figures["checked_in"]!.GetValue<int>()));
        Assert.Equal((0, 10), (items[1]!["sold"]!.GetValue<int>(), items[1]!["available"]!.GetValue<int>()));

        var next = await organizer.GetAsync($"/organizer/shows?limit=2&cursor={first["next_cursor"]}").ExpectAsync(HttpStatusCode.OK);
        Assert.Equal([shows[0].ShowId], next["items"]!.AsArray().Select(i => i!["show_id"]!.GetValue<long>()));
        Assert.Null(next["next_cursor"]);
        Assert.Equal([shows[2].ShowId], (await organizer.GetAsync($"/organizer/shows?event_id={shows[2].EventId}").ExpectAsync(HttpStatusCode.OK))["items"]!.AsArray()
            .Select(i => i!["show_id"]!.GetValue<long>()));

        Assert.Empty((await other.GetAsync("/organizer/shows").ExpectAsync(HttpStatusCode.OK))["items"]!.AsArray());
        var invalid = await organizer.GetAsync("/organizer/shows?cursor=nope&status=sold").ExpectAsync(HttpStatusCode.BadRequest);
        Assert.NotNull(invalid["errors"]!["cursor"]);
        Assert.NotNull(invalid["errors"]!["status"]);

        using var request = new HttpRequestMessage(HttpMethod.Get, "/organizer/shows?limit=2");
        using var tagged = await organizer.SendAsync(request);
        using var again = new HttpRequestMessage(HttpMethod.Get, "/organizer/shows?limit=2");
        again.Headers.IfNoneMatch.Add(tagged.Headers.ETag!);
        using var notModified = await organizer.SendAsync(again);
        Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);
    }
}

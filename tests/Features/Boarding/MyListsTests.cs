using System.Net;
using System.Net.Http.Json;
using Holdfast.Tests.Infrastructure;

namespace Holdfast.Tests.Features.Boarding;

public sealed class MyListsTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    private TestApp App => fixture.App;

    [Fact]
    public async Task My_bookings_are_mine_newest_first_keyset_paged_and_filtered()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource);
        var earlier = await TestCatalogue.ShowAsync(App.DataSource);
        var (customer, _) = await App.CustomerAsync();
        var (stranger, _) = await App.CustomerAsync();
        var past = (await Boarding.BookAsync(customer, earlier.ShowId, "1A"))["booking_id"]!.GetValue<long>();
        var first = (await Boarding.BookAsync(customer, show.ShowId, "2A"))["booking_id"]!.GetValue<long>();
        var second = (await Boarding.BookAsync(customer, show.ShowId, "2B", "2C"))["booking_id"]!.GetValue<long>();
        await Boarding.BookAsync(stranger, show.ShowId, "3A");
        await customer.PostAsJsonAsync($"/bookings/{first}/cancellation", new { }).ExpectAsync(HttpStatusCode.OK);
        // The earlier show has happened: moved into the past in SQL (shows cannot be sold once started).
        await App.DataSource.ScalarAsync<int>("with m as (update show set starts_at = now() - interval '2 days', ends_at = now() - interval '46 hours', sales_opens_at = now() - interval '30 days', sales_closes_at = now() - interval '2 days' where show_id = $1 returning 1) select count(*)::int from m", earlier.ShowId);

        var page1 = await customer.GetAsync("/me/bookings?limit=2").ExpectAsync(HttpStatusCode.OK);
        Assert.Equal([second, first], page1["items"]!.AsArray().Select(i => i!["booking_id"]!.GetValue<long>()).ToArray());
        Assert.Equal(2, page1["items"]![0]!["seat_count"]!.GetValue<int>());
        var page2 = await customer.GetAsync($"/me/bookings?limit=2&before_id={page1["next_before_id"]}").ExpectAsync(HttpStatusCode.OK);
        Assert.Equal([past], page2["items"]!.AsArray().Select(i => i!["booking_id"]!.GetValue<long>()).ToArray());
        Assert.Null(page2["next_before_id"]);

        var confirmedUpcoming = await customer.GetAsync("/me/bookings?status=confirmed&when=upcoming").ExpectAsync(HttpStatusCode.OK);
        Assert.Equal([second], confirmedUpcoming["items"]!.AsArray().Select(i => i!["booking_id"]!.GetValue<long>()).ToArray());
        var pastOnes = await customer.GetAsync("/me/bookings?when=past").ExpectAsync(HttpStatusCode.OK);
        Assert.Equal([past], pastOnes["items"]!.AsArray().Select(i => i!["booking_id"]!.GetValue<long>()).ToArray());
        // Cancelled, then refunded in full once the refund job has run.
        await Eventually.EqualAsync("refunded", async () => (await customer.GetAsync($"/bookings/{first}").ExpectAsync(HttpStatusCode.OK))["status"]!.GetValue<string>());
        var refunded = await customer.GetAsync("/me/bookings?status=refunded").ExpectAsync(HttpStatusCode.OK);
        Assert.Equal([first], refunded["items"]!.AsArray().Select(i => i!["booking_id"]!.GetValue<long>()).ToArray());

        var bad = await customer.GetAsync("/me/bookings?when=tomorrow&status=lost").ExpectAsync(HttpStatusCode.BadRequest);
        Assert.NotNull(bad["errors"]!["when"]);
        Assert.NotNull(bad["errors"]!["status"]);
    }

    [Fact]
    public async Task My_holds_are_mine_newest_first_with_their_derived_status()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource);
        var (customer, _) = await App.CustomerAsync();
        var (stranger, _) = await App.CustomerAsync();
        var booked = await customer.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "4A" } }).ExpectAsync(HttpStatusCode.Created);
        await customer.PostAsync($"/holds/{booked["hold_id"]}/booking", null).ExpectAsync(HttpStatusCode.Created);
        var released = await customer.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "4B" } }).ExpectAsync(HttpStatusCode.Created);
        await customer.DeleteAsync($"/holds/{released["hold_id"]}").ExpectAsync(HttpStatusCode.NoContent);
        var active = await customer.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "4C", "4D" } }).ExpectAsync(HttpStatusCode.Created);
        await stranger.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "5A" } }).ExpectAsync(HttpStatusCode.Created);

        var all = await customer.GetAsync("/me/holds").ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(
            [(active["hold_id"]!.GetValue<long>(), "active"), (released["hold_id"]!.GetValue<long>(), "released"), (booked["hold_id"]!.GetValue<long>(), "booked")],
            all["items"]!.AsArray().Select(i => (i!["hold_id"]!.GetValue<long>(), i["status"]!.GetValue<string>())).ToArray());
        var activeOnly = await customer.GetAsync("/me/holds?status=active&when=upcoming&limit=1").ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(2, activeOnly["items"]![0]!["seat_count"]!.GetValue<int>());
        Assert.Null(activeOnly["next_before_id"]);
        var none = await customer.GetAsync("/me/holds?when=past").ExpectAsync(HttpStatusCode.OK);
        Assert.Empty(none["items"]!.AsArray());
    }
}

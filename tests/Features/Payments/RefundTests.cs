using System.Net;
using System.Net.Http.Json;
using Holdfast.Features.Checkout;
using Holdfast.Infrastructure.Auth;
using Holdfast.Tests.Infrastructure;

namespace Holdfast.Tests.Features.Payments;

public sealed class RefundTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    private TestApp App => fixture.App;
    private static readonly RefundTier[] Policy = [new(48, 100), new(2, 50)];

    [Theory]
    // A 09:00 BST show on 29 March 2027 (UK clocks go forward at 01:00 UTC on the 28th).
    [InlineData("2027-03-27T08:00:00+00:00", 100)] // 08:00 GMT local: exactly 48 elapsed hours before
    [InlineData("2027-03-27T08:00:01+00:00", 50)]  // a second later
    [InlineData("2027-03-27T09:00:00+00:00", 50)]  // "09:00 two days before" on the wall clock is only 47 h before
    [InlineData("2027-03-29T07:00:00+01:00", 50)]  // exactly 2 h before, local 07:00
    [InlineData("2027-03-29T07:00:01+01:00", 0)]
    [InlineData("2027-03-20T12:00:00+00:00", 100)]
    public void The_policy_boundaries_are_elapsed_hours_before_the_show(string cancelledAt, int percent)
    {
        var startsAt = new DateTimeOffset(2027, 3, 29, 9, 0, 0, TimeSpan.FromHours(1));
        Assert.Equal(percent, RefundPolicy.PercentFor(Policy, startsAt, DateTimeOffset.Parse(cancelledAt, System.Globalization.CultureInfo.InvariantCulture)));
    }

    [Fact]
    public void Shares_round_down_so_a_refund_never_exceeds_its_due()
    {
        Assert.Equal(8400, RefundPolicy.Share(16801, 50)); // JPY has no minor unit: whole yen
        Assert.Equal(2499, RefundPolicy.Share(4999, 50));
        Assert.Equal(4999, RefundPolicy.Share(4999, 100));
    }

    [Fact]
    public async Task Cancelling_a_whole_booking_early_refunds_it_in_full_and_frees_the_seats()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource, startsAt: DateTimeOffset.UtcNow.AddDays(3));
        var (customer, bookingId) = await BookAsync(show.ShowId, "1A", "2A");
        await using var feed = await SseSubscriber.OpenAsync(App.CreateClient(), $"/shows/{show.ShowId}/seats/stream");
        await feed.NextAsync();

        var cancelled = await customer.PostAsJsonAsync($"/bookings/{bookingId}/cancellation", new { }).ExpectAsync(HttpStatusCode.OK);

        Assert.Equal(("cancelled", 100, 7000L), (cancelled["status"]!.GetValue<string>(), cancelled["refund_percent"]!.GetValue<int>(), cancelled["refund_minor"]!.GetValue<long>()));
        var released = await feed.NextAsync();
        Assert.Equal(("released", 2), (released.Data["kind"]!.GetValue<string>(), released.Data["seat_ids"]!.AsArray().Count));
        await Eventually.EqualAsync("refunded", async () => (await customer.GetAsync($"/bookings/{bookingId}").ExpectAsync(HttpStatusCode.OK))["status"]!.GetValue<string>());
        var booking = await customer.GetAsync($"/bookings/{bookingId}").ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(("succeeded", 7000L), (booking["refunds"]![0]!["status"]!.GetValue<string>(), booking["refunds"]![0]!["amount_minor"]!.GetValue<long>()));
        var (other, _) = await App.CustomerAsync();
        await other.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "1A", "2A" } }).ExpectAsync(HttpStatusCode.Created);
        await customer.PostAsJsonAsync($"/bookings/{bookingId}/cancellation", new { }).ExpectAsync(HttpStatusCode.Conflict);
    }

    [Fact]
    public async Task Cancelling_some_seats_late_refunds_half_of_them_and_keeps_the_rest()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource, startsAt: DateTimeOffset.UtcNow.AddHours(10));
        var (customer, bookingId) = await BookAsync(show.ShowId, "3A", "3B", "3C");
        var seatIds = (await customer.GetAsync($"/bookings/{bookingId}").ExpectAsync(HttpStatusCode.OK))["seats"]!.AsArray().Select(s => s!["seat_id"]!.GetValue<long>()).ToArray();

        var partial = await customer.PostAsJsonAsync($"/bookings/{bookingId}/cancellation", new { seat_ids = new[] { seatIds[0] } }).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(("confirmed", 50, 1000L), (partial["status"]!.GetValue<string>(), partial["refund_percent"]!.GetValue<int>(), partial["refund_minor"]!.GetValue<long>()));
        var bad = await customer.PostAsJsonAsync($"/bookings/{bookingId}/cancellation", new { seat_ids = new[] { seatIds[0] } }).ExpectAsync(HttpStatusCode.BadRequest);
        Assert.True(bad["errors"]!.AsObject().ContainsKey("seat_ids"));

        var rest = await customer.PostAsJsonAsync($"/bookings/{bookingId}/cancellation", new { }).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(("cancelled", 2000L), (rest["status"]!.GetValue<string>(), rest["refund_minor"]!.GetValue<long>()));
        Assert.Equal((6000L, 3000L), (await App.DataSource.ScalarAsync<long>($"select paid_minor from booking where booking_id = {bookingId}"), await App.DataSource.ScalarAsync<long>($"select refunded_minor from booking where booking_id = {bookingId}")));
    }

    [Fact]
    public async Task Cancelling_a_show_refunds_every_booking_in_full_through_jobs()
    {
        var (organizer, organizerId) = await App.OrganizerAsync();
        var show = await TestCatalogue.ShowAsync(App.DataSource, ownerId: organizerId, startsAt: DateTimeOffset.UtcNow.AddHours(1));
        var (_, first) = await BookAsync(show.ShowId, "1A");
        var (_, second) = await BookAsync(show.ShowId, "4A", "4B");

        await organizer.PostAsync($"/shows/{show.ShowId}/cancel", null).ExpectAsync(HttpStatusCode.OK);

        foreach (var bookingId in new[] { first, second })
        {
            await Eventually.EqualAsync("refunded", () => App.DataSource.ScalarAsync<string>($"select status from booking where booking_id = {bookingId}"));
            Assert.Equal(await App.DataSource.ScalarAsync<long>($"select paid_minor from booking where booking_id = {bookingId}"), await App.DataSource.ScalarAsync<long>($"select sum(amount_minor)::bigint from refund where booking_id = {bookingId} and status = 'succeeded'"));
        }
    }

    [Fact]
    public async Task The_schema_refuses_refunding_more_than_was_paid()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource);
        var (_, bookingId) = await BookAsync(show.ShowId, "5A");
        await using var command = App.DataSource.CreateCommand($"update booking set refunded_minor = paid_minor + 1 where booking_id = {bookingId}");
        var error = await Assert.ThrowsAsync<Npgsql.PostgresException>(() => command.ExecuteNonQueryAsync());
        Assert.Equal("booking_refund_within_paid_ck", error.ConstraintName);
    }

    private async Task<(HttpClient Customer, long BookingId)> BookAsync(long showId, params string[] seats)
    {
        var (customer, _) = await App.CustomerAsync();
        var hold = await customer.PostAsJsonAsync($"/shows/{showId}/holds", new { seats }).ExpectAsync(HttpStatusCode.Created);
        var booking = await customer.PostAsync($"/holds/{hold["hold_id"]}/booking", null).ExpectAsync(HttpStatusCode.Created);
        Assert.Equal("confirmed", booking["status"]!.GetValue<string>());
        return (customer, booking["booking_id"]!.GetValue<long>());
    }
}

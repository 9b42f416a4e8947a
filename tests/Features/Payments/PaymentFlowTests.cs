using System.Net;
using System.Net.Http.Json;
using Holdfast.Features.Checkout;
using Holdfast.Infrastructure.Jobs;
using Holdfast.Infrastructure.Payments;
using Holdfast.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Holdfast.Tests.Features.Payments;

/// <summary>The payment flows with the built-in fake gateway (the Stripe protocol is tested against a fake Stripe server).</summary>
public sealed class PaymentFlowTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    private TestApp App => fixture.App;

    [Fact]
    public async Task Pages_get_the_fake_gateway_s_test_cards()
    {
        using var anonymous = App.CreateClient();
        var config = await anonymous.GetAsync("/payments/config").ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("fake", config["provider"]!.GetValue<string>());
        Assert.Null(config["publishable_key"]);
        Assert.Equal(["pm_card_visa", "pm_card_chargeDeclined"], config["test_cards"]!.AsArray().Select(c => c!["payment_method"]!.GetValue<string>()).ToArray());
    }

    [Fact]
    public async Task A_declined_card_keeps_the_booking_payable_and_a_new_attempt_uses_a_new_idempotency_key()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource);
        var (customer, _) = await App.CustomerAsync();
        var hold = await customer.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "2A" } }).ExpectAsync(HttpStatusCode.Created);

        var declined = await customer.PostAsJsonAsync($"/holds/{hold["hold_id"]}/booking", new { payment_method = "pm_card_chargeDeclined" }).ExpectAsync(HttpStatusCode.PaymentRequired);
        var bookingId = declined["booking_id"]!.GetValue<long>();
        var pending = await customer.GetAsync($"/bookings/{bookingId}").ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(("pending_payment", "requires_payment_method"), (pending["status"]!.GetValue<string>(), pending["payment"]!["status"]!.GetValue<string>()));
        Assert.Equal("2A", pending["seats"]![0]!["label"]!.GetValue<string>());
        Assert.Equal("held", await App.DataSource.ScalarAsync<string>($"select state from show_seat where show_id = {show.ShowId} and hold_id = {hold["hold_id"]}"));
        // The deadline job, not the hold's own expiry, ends it from now on: the expiry job became it.
        Assert.Equal(0L, await App.DataSource.ScalarAsync<long>($"select count(*) from job where kind = 'hold.expire' and unique_key = 'hold:{hold["hold_id"]}'"));
        Assert.Equal(1L, await App.DataSource.ScalarAsync<long>($"select count(*) from job where kind = 'payments.deadline' and (payload->>'booking_id')::bigint = {bookingId} and state = 'available'"));
        Assert.Equal(1L, await App.DataSource.ScalarAsync<long>($"select count(*) from job where kind = 'email.send' and payload->>'template' = 'payment_failed' and (payload->>'booking_id')::bigint = {bookingId}"));

        var paid = await customer.PostAsJsonAsync($"/bookings/{bookingId}/payments", new { payment_method = "pm_card_visa" }).ExpectAsync(HttpStatusCode.Created);

        Assert.Equal("confirmed", paid["status"]!.GetValue<string>());
        Assert.Equal(2000, paid["paid_minor"]!.GetValue<long>());
        Assert.Equal(2L, await App.DataSource.ScalarAsync<long>($"select count(distinct idempotency_key) from payment_attempt where booking_id = {bookingId}"));
        await customer.PostAsJsonAsync($"/bookings/{bookingId}/payments", new { }).ExpectAsync(HttpStatusCode.Conflict);
    }

    [Fact]
    public async Task Duplicate_and_concurrent_success_reports_confirm_once()
    {
        var (bookingId, intent, _) = await PendingBookingAsync("pm_fake_late");
        var payments = App.Services.GetRequiredService<PaymentProcessing>();
        using var barrier = new Barrier(8);

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            barrier.SignalAndWait();
            return await payments.SucceededAsync("fake", intent, 2000, CancellationToken.None);
        })));

        Assert.Single(outcomes, o => o == PaymentOutcome.Confirmed);
        Assert.Equal(7, outcomes.Count(o => o == PaymentOutcome.AlreadyProcessed));
        Assert.Equal(("confirmed", 2000L), (await App.DataSource.ScalarAsync<string>($"select status from booking where booking_id = {bookingId}"), await App.DataSource.ScalarAsync<long>($"select paid_minor from booking where booking_id = {bookingId}")));
        Assert.Equal(1L, await App.DataSource.ScalarAsync<long>($"select count(*) from booking_seat where booking_id = {bookingId}"));
        Assert.Equal(1L, await App.DataSource.ScalarAsync<long>($"select count(*) from seat_event where kind = 'booked' and {await App.DataSource.ScalarAsync<long>($"select show_id from booking where booking_id = {bookingId}")} = show_id"));
    }

    [Fact]
    public async Task An_unpaid_booking_expires_at_its_deadline_and_its_seats_are_released_on_the_feed()
    {
        var (bookingId, _, showId) = await PendingBookingAsync("pm_card_chargeDeclined");
        await using var feed = await SseSubscriber.OpenAsync(App.CreateClient(), $"/shows/{showId}/seats/stream");
        await feed.NextAsync();
        await PastDeadlineAsync(bookingId);

        await App.Services.GetRequiredService<PaymentDeadline>().SettleAsync(bookingId, CancellationToken.None);

        Assert.Equal("expired", await App.DataSource.ScalarAsync<string>($"select status from booking where booking_id = {bookingId}"));
        var released = await feed.NextAsync();
        Assert.Equal(("expired", "available"), (released.Data["kind"]!.GetValue<string>(), released.Data["state"]!.GetValue<string>()));
        Assert.Equal(0L, await App.DataSource.ScalarAsync<long>($"select count(*) from show_seat where show_id = {showId} and state <> 'available'"));
    }

    [Fact]
    public async Task A_late_payment_found_by_the_deadline_job_confirms_the_booking()
    {
        var (bookingId, _, _) = await PendingBookingAsync("pm_fake_late");
        await PastDeadlineAsync(bookingId);

        // The fake settles a "processing" payment when asked, as a webhook that never came would have said.
        await App.Services.GetRequiredService<PaymentDeadline>().SettleAsync(bookingId, CancellationToken.None);

        Assert.Equal("confirmed", await App.DataSource.ScalarAsync<string>($"select status from booking where booking_id = {bookingId}"));
    }

    [Fact]
    public async Task Paid_after_expiry_with_the_seats_still_free_takes_them_back()
    {
        var (bookingId, intent, showId) = await PendingBookingAsync("pm_fake_late");
        await ExpireAsync(bookingId);
        Assert.Equal(0L, await App.DataSource.ScalarAsync<long>($"select count(*) from show_seat where show_id = {showId} and state <> 'available'"));

        var outcome = await App.Services.GetRequiredService<PaymentProcessing>().SucceededAsync("fake", intent, 2000, CancellationToken.None);

        Assert.Equal(PaymentOutcome.Confirmed, outcome);
        Assert.Equal("confirmed", await App.DataSource.ScalarAsync<string>($"select status from booking where booking_id = {bookingId}"));
        Assert.Equal(1L, await App.DataSource.ScalarAsync<long>($"select count(*) from show_seat where show_id = {showId} and state = 'booked' and booking_id = {bookingId}"));
    }

    [Fact]
    public async Task Paid_after_expiry_with_the_seats_taken_is_refunded_in_full_and_the_customer_told()
    {
        var (bookingId, intent, showId) = await PendingBookingAsync("pm_fake_late");
        await ExpireAsync(bookingId);
        var (other, _) = await App.CustomerAsync();
        await other.PostAsJsonAsync($"/shows/{showId}/holds", new { seats = new[] { "2A" } }).ExpectAsync(HttpStatusCode.Created);

        var outcome = await App.Services.GetRequiredService<PaymentProcessing>().SucceededAsync("fake", intent, 2000, CancellationToken.None);

        Assert.Equal(PaymentOutcome.RefundedSeatsGone, outcome);
        Assert.Equal("held", await App.DataSource.ScalarAsync<string>($"select state from show_seat where show_id = {showId} and seat_id = (select seat_id from hold_seat hs join booking b on b.hold_id = hs.hold_id where b.booking_id = {bookingId})"));
        await Eventually.EqualAsync("refunded", () => App.DataSource.ScalarAsync<string>($"select status from booking where booking_id = {bookingId}"));
        Assert.Equal((2000L, 2000L), (await App.DataSource.ScalarAsync<long>($"select paid_minor from booking where booking_id = {bookingId}"), await App.DataSource.ScalarAsync<long>($"select refunded_minor from booking where booking_id = {bookingId}")));
        Assert.Equal("succeeded", await App.DataSource.ScalarAsync<string>($"select status from refund where booking_id = {bookingId}"));
        Assert.Equal(1L, await App.DataSource.ScalarAsync<long>($"select count(*) from job where kind = 'email.send' and payload->>'template' = 'booking_cancelled' and (payload->>'booking_id')::bigint = {bookingId}"));
    }

    [Fact]
    public async Task An_unreachable_provider_answers_502_and_the_booking_can_be_paid_later()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource);
        var (customer, _) = await App.CustomerAsync();
        var hold = await customer.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "3A" } }).ExpectAsync(HttpStatusCode.Created);

        var down = await customer.PostAsJsonAsync($"/holds/{hold["hold_id"]}/booking", new { payment_method = "pm_fake_unavailable" }).ExpectAsync(HttpStatusCode.BadGateway);
        var bookingId = down["booking_id"]!.GetValue<long>();
        await customer.PostAsJsonAsync($"/holds/{hold["hold_id"]}/booking", new { }).ExpectAsync(HttpStatusCode.Conflict);
        await customer.DeleteAsync($"/holds/{hold["hold_id"]}").ExpectAsync(HttpStatusCode.Conflict); // checkout in progress

        var paid = await customer.PostAsJsonAsync($"/bookings/{bookingId}/payments", new { }).ExpectAsync(HttpStatusCode.Created);
        Assert.Equal("confirmed", paid["status"]!.GetValue<string>());
    }

    private async Task<(long BookingId, string Intent, long ShowId)> PendingBookingAsync(string paymentMethod)
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource);
        var (customer, _) = await App.CustomerAsync();
        var hold = await customer.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "2A" } }).ExpectAsync(HttpStatusCode.Created);
        using var response = await customer.PostAsJsonAsync($"/holds/{hold["hold_id"]}/booking", new { payment_method = paymentMethod });
        var bookingId = await App.DataSource.ScalarAsync<long>($"select booking_id from booking where hold_id = {hold["hold_id"]}");
        return (bookingId, await App.DataSource.ScalarAsync<string>($"select provider_payment_id from payment_attempt where booking_id = {bookingId} order by payment_attempt_id desc limit 1"), show.ShowId);
    }

    private async Task PastDeadlineAsync(long bookingId)
    {
        await using var command = App.DataSource.CreateCommand($"update booking set payment_deadline = now() - interval '1 second' where booking_id = {bookingId}");
        await command.ExecuteNonQueryAsync();
    }

    // The deadline passes with nothing paid (the fake's late payment is not asked about): expired, seats released.
    private async Task ExpireAsync(long bookingId)
    {
        await using var command = App.DataSource.CreateCommand($"""
            update booking set status = 'expired', cancelled_at = now() where booking_id = {bookingId};
            update hold set expires_at = now() - interval '1 second', created_at = now() - interval '1 hour' where hold_id = (select hold_id from booking where booking_id = {bookingId});
            """);
        await command.ExecuteNonQueryAsync();
        await using var connection = await App.DataSource.OpenConnectionAsync();
        await Holdfast.Features.Inventory.SeatInventory.ExpireAsync(Holdfast.Features.Inventory.SeatTransaction.Autocommit(connection, App.Services.GetRequiredService<Holdfast.Infrastructure.SeatFeed.SeatFeedAnnouncer>()),
            await App.DataSource.ScalarAsync<long>($"select hold_id from booking where booking_id = {bookingId}"), DateTimeOffset.UtcNow, CancellationToken.None);
    }
}

using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Holdfast.Features.Checkout;
using Holdfast.Features.Jobs;
using Holdfast.Infrastructure.Jobs;
using Holdfast.Infrastructure.Payments;
using Holdfast.Tests.Infrastructure;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace Holdfast.Tests.Features.Payments;

/// <summary>
/// A node dies after the provider took the money and before the PaymentIntent's id was recorded.
/// The attempt and its idempotency key were committed before the call, so the deadline job and
/// reconciliation find the PaymentIntent by replaying the create, then confirm, re-take or refund.
/// </summary>
public sealed class PaymentCrashTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    private TestApp App => fixture.App;

    /// <summary>The fake gateway, except that the process "dies" the moment the provider answers.</summary>
    private sealed class DiesAfterTheProvider(FakePaymentGateway inner) : IPaymentGateway
    {
        public string Provider => inner.Provider;

        public async Task<PaymentIntent> CreatePaymentIntentAsync(PaymentIntentRequest request, CancellationToken cancellationToken)
        {
            await inner.CreatePaymentIntentAsync(request, cancellationToken);
            throw new ProcessDiedException();
        }

        public Task<PaymentIntent> RetrievePaymentIntentAsync(string id, CancellationToken cancellationToken) => inner.RetrievePaymentIntentAsync(id, cancellationToken);

        public Task CancelPaymentIntentAsync(string id, string idempotencyKey, CancellationToken cancellationToken) => inner.CancelPaymentIntentAsync(id, idempotencyKey, cancellationToken);

        public Task<RefundResult> CreateRefundAsync(string paymentIntentId, long amountMinor, string idempotencyKey, CancellationToken cancellationToken) =>
            inner.CreateRefundAsync(paymentIntentId, amountMinor, idempotencyKey, cancellationToken);
    }

    private sealed class ProcessDiedException : Exception;

    // Checkout on a second node whose gateway dies after the provider answered; returns the booking.
    private async Task<(long BookingId, long HoldId, long ShowId)> CrashedCheckoutAsync()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource);
        await using var dying = App.WithWebHostBuilder(b => b.ConfigureTestServices(services =>
            services.AddTransient<IPaymentGateway>(sp => new DiesAfterTheProvider(sp.GetRequiredService<FakePaymentGateway>()))));
        var client = dying.CreateClient();
        var registered = await client.PostAsJsonAsync("/auth/register", new { email = $"c{Guid.NewGuid():N}@example.com", password = "correct horse battery" }).ExpectAsync(HttpStatusCode.Created);
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", registered["access_token"]!.GetValue<string>());
        var hold = await client.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "2A", "2B" } }).ExpectAsync(HttpStatusCode.Created);
        var holdId = hold["hold_id"]!.GetValue<long>();

        await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            using var response = await client.PostAsJsonAsync($"/holds/{holdId}/booking", new { payment_method = "pm_card_visa" });
            response.EnsureSuccessStatusCode();
        });

        var bookingId = await App.DataSource.ScalarAsync<long>($"select booking_id from booking where hold_id = {holdId}");
        Assert.Equal("pending_payment", await App.DataSource.ScalarAsync<string>($"select status from booking where booking_id = {bookingId}"));
        Assert.True(await App.DataSource.ScalarAsync<bool>($"select provider_payment_id is null and status = 'created' and payment_method = 'pm_card_visa' from payment_attempt where booking_id = {bookingId}"));
        return (bookingId, holdId, show.ShowId);
    }

    [Fact]
    public async Task A_payment_whose_id_was_never_recorded_is_found_at_the_deadline_and_confirms_the_booking()
    {
        var (bookingId, holdId, showId) = await CrashedCheckoutAsync();
        await Sql($"update booking set payment_deadline = now() - interval '1 second' where booking_id = {bookingId}");

        await App.Services.GetRequiredService<PaymentDeadline>().SettleAsync(bookingId, CancellationToken.None);

        Assert.Equal("confirmed", await App.DataSource.ScalarAsync<string>($"select status from booking where booking_id = {bookingId}"));
        Assert.True(await App.DataSource.ScalarAsync<bool>($"select provider_payment_id like 'pi_fake_%' and status = 'succeeded' from payment_attempt where booking_id = {bookingId}"));
        Assert.Equal(2L, await App.DataSource.ScalarAsync<long>($"select count(*) from show_seat where show_id = {showId} and state = 'booked' and booking_id = {bookingId}"));
        Assert.Equal(0L, await App.DataSource.ScalarAsync<long>($"select count(*) from refund where booking_id = {bookingId}"));
        _ = holdId;
    }

    [Fact]
    public async Task A_payment_of_a_booking_that_expired_without_it_is_found_by_reconciliation_and_refunded_when_the_seats_are_gone()
    {
        var (bookingId, holdId, showId) = await CrashedCheckoutAsync();
        // The app's own reconciliation (every 5 minutes) must not settle this payment while the
        // seats are free, between the expiry and the other customer's hold below: it did once in CI,
        // took the seats back, and the other's hold got 409. Every step of settling it writes the
        // attempt row, so a lock on that row until the other's hold is in keeps it out.
        await using var attemptLock = await App.DataSource.OpenConnectionAsync();
        await using (var locking = await attemptLock.BeginTransactionAsync())
        {
            await using (var lockAttempt = new Npgsql.NpgsqlCommand($"update payment_attempt set status = 'canceled' where booking_id = {bookingId}", attemptLock))
            {
                await lockAttempt.ExecuteNonQueryAsync();
            }

            // As the deadline did before it looked for unrecorded attempts: expired, attempt cancelled (above), seats released…
            await Sql($"""
                update booking set status = 'expired', cancelled_at = now() where booking_id = {bookingId};
                update hold set expires_at = now() - interval '1 second', created_at = now() - interval '1 hour' where hold_id = {holdId};
                """);
            await using (var connection = await App.DataSource.OpenConnectionAsync())
            {
                await Holdfast.Features.Inventory.SeatInventory.ExpireAsync(Holdfast.Features.Inventory.SeatTransaction.Autocommit(connection, App.Services.GetRequiredService<Holdfast.Infrastructure.SeatFeed.SeatFeedAnnouncer>()),
                    holdId, DateTimeOffset.UtcNow, CancellationToken.None);
            }

            // …and someone else took them.
            var (other, _) = await App.CustomerAsync();
            await other.PostAsJsonAsync($"/shows/{showId}/holds", new { seats = new[] { "2A", "2B" } }).ExpectAsync(HttpStatusCode.Created);
            await locking.CommitAsync();
        }

        await App.Services.GetServices<IJobHandler>().OfType<ReconcilePayments>().Single()
            .HandleAsync(new JobContext(0, ReconcilePaymentsArgs.Kind, default, 1, 1), CancellationToken.None);

        Assert.True(await App.DataSource.ScalarAsync<bool>($"select provider_payment_id like 'pi_fake_%' from payment_attempt where booking_id = {bookingId}"));
        Assert.Equal(1L, await App.DataSource.ScalarAsync<long>($"select count(*) from refund where booking_id = {bookingId} and amount_minor = (select amount_minor from payment_attempt where booking_id = {bookingId})"));
        Assert.Equal(0L, await App.DataSource.ScalarAsync<long>($"select count(*) from show_seat where show_id = {showId} and booking_id = {bookingId}"));
    }

    private async Task Sql(string sql)
    {
        await using var command = App.DataSource.CreateCommand(sql);
        await command.ExecuteNonQueryAsync();
    }
}

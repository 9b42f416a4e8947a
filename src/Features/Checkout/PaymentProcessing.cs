using System.ComponentModel.DataAnnotations;
using Holdfast.Features.Inventory;
using Holdfast.Features.Jobs;
using Holdfast.Features.Reminders;
using Holdfast.Infrastructure;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Jobs;
using Holdfast.Infrastructure.SeatFeed;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Holdfast.Features.Checkout;

/// <summary>Settings under <c>Payments</c> in configuration.</summary>
public sealed class PaymentOptions
{
    /// <summary><c>fake</c> (default) or <c>stripe</c>.</summary>
    [RegularExpression("(?i)fake|stripe", ErrorMessage = "{0} must be fake or stripe.")]
    public string Provider { get; set; } = "fake";

    /// <summary>Minutes a booking stays payable (and its seats held) after checkout (default 15).</summary>
    [Range(1, 1440)]
    public int DeadlineMinutes { get; set; } = 15;
}

/// <summary>A provider event (a Stripe webhook) to record once, in the transaction that processes it.</summary>
/// <param name="Provider">e.g. <c>stripe</c>.</param>
/// <param name="Id">The provider's event id (<c>evt_…</c>).</param>
/// <param name="Type">e.g. <c>payment_intent.succeeded</c>.</param>
/// <param name="Payload">The raw JSON.</param>
public sealed record ProviderEvent(string Provider, string Id, string Type, string Payload);

/// <summary>What a payment success did to its booking.</summary>
public enum PaymentOutcome
{
    /// <summary>The booking is confirmed and its seats booked.</summary>
    Confirmed,

    /// <summary>This payment was already processed (a duplicate or concurrent event).</summary>
    AlreadyProcessed,

    /// <summary>Paid after the seats were taken by someone else: refunded in full.</summary>
    RefundedSeatsGone,

    /// <summary>A second payment for an already confirmed booking: refunded in full.</summary>
    RefundedDuplicate,

    /// <summary>No payment attempt of ours has this PaymentIntent id.</summary>
    Unknown,
}

/// <summary>
/// The one place a payment outcome changes a booking, whoever reports it: a Stripe webhook, the
/// fake gateway, the payment-deadline job or reconciliation. Each success is a compare-and-set on
/// the attempt's status under the booking's row lock, so duplicate and concurrent deliveries
/// confirm once (Hi.Events #598). A payment that arrives after its hold is gone takes the seats
/// back if they are still free, and otherwise is refunded automatically; a booking is never
/// confirmed on seats someone else holds (GUIDE §4).
/// </summary>
public sealed class PaymentProcessing(NpgsqlDataSource db, JobOutbox outbox, SeatFeedAnnouncer announcer, IOptions<ReminderOptions> reminders, TimeProvider time)
{
    /// <summary>Records that PaymentIntent <paramref name="paymentIntentId"/> succeeded with <paramref name="amountReceived"/> minor units.</summary>
    /// <param name="provider">The provider (<c>fake</c>, <c>stripe</c>).</param>
    /// <param name="paymentIntentId">The PaymentIntent id.</param>
    /// <param name="amountReceived">Minor units captured.</param>
    /// <param name="cancellationToken">Cancels the work (the transaction rolls back).</param>
    /// <param name="providerEvent">The event reporting it, recorded in the same transaction; a duplicate returns <see cref="PaymentOutcome.AlreadyProcessed"/>.</param>
    public async Task<PaymentOutcome> SucceededAsync(string provider, string paymentIntentId, long amountReceived, CancellationToken cancellationToken, ProviderEvent? providerEvent = null)
    {
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        return await SucceededAsync(connection, provider, paymentIntentId, amountReceived, null, cancellationToken, providerEvent);
    }

    /// <summary>
    /// <see cref="SucceededAsync(string, string, long, CancellationToken, ProviderEvent?)"/> on the
    /// caller's <paramref name="connection"/> (idle, no transaction), which it keeps: the checkout
    /// reads the booking back on it. <paramref name="answer"/>, when given, is the provider's answer
    /// to the attempt that created the PaymentIntent, recorded first in the same transaction (the
    /// attempt itself was committed before the provider was called; if this transaction is lost, the
    /// deadline job finds the PaymentIntent by replaying the attempt's create, decision 0017).
    /// </summary>
    public async Task<PaymentOutcome> SucceededAsync(
        NpgsqlConnection connection, string provider, string paymentIntentId, long amountReceived, AttemptAnswer? answer, CancellationToken cancellationToken,
        ProviderEvent? providerEvent = null)
    {
        var now = time.GetUtcNow();
        await using var transaction = await SeatTransaction.BeginAsync(connection, announcer, cancellationToken);
        if (providerEvent is not null && !await RecordEventAsync(connection, providerEvent, now, cancellationToken))
        {
            return PaymentOutcome.AlreadyProcessed;
        }

        var row = await LockAsync(connection, provider, paymentIntentId, cancellationToken, answer, now);
        if (row is null)
        {
            await transaction.CommitAsync(cancellationToken);
            return PaymentOutcome.Unknown;
        }

        if (row.AttemptStatus == "succeeded")
        {
            return PaymentOutcome.AlreadyProcessed;
        }

        var paid = amountReceived > 0 ? amountReceived : row.AttemptAmount;
        var marks = MarkSucceeded(row.AttemptId, row.BookingId, paid, now);
        PaymentOutcome outcome;
        if (row.BookingStatus == "confirmed")
        {
            await using (var mark = new NpgsqlBatch(connection))
            {
                marks.ForEach(mark.BatchCommands.Add);
                await mark.ExecuteNonQueryAsync(cancellationToken);
            }

            await RefundAsync(connection, row, paid, "duplicate", now, cancellationToken);
            outcome = PaymentOutcome.RefundedDuplicate;
        }
        else if (await SeatInventory.BookAsync(transaction, row.BookingId, row.HoldId, row.ShowId, now, cancellationToken,
                     [.. marks, .. ConfirmationMessages(row.BookingId, now), ReminderSchedule.ScheduleCommand(row.BookingId, reminders.Value, now)]))
        {
            // The email, the SMS and the reminders went in with the booking, set-based and in its round trip.
            await outbox.WakeAsync(connection, EmailArgs.Options.Queue, cancellationToken);
            outcome = PaymentOutcome.Confirmed;
        }
        else
        {
            await using (var gone = new NpgsqlCommand(SeatsGoneSql, connection))
            {
                await gone.With("booking_id", row.BookingId).With("now", now).ExecuteNonQueryAsync(cancellationToken);
            }

            await RefundAsync(connection, row, paid, "seats_unavailable", now, cancellationToken);
            await outbox.EnqueueAsync(connection, EmailArgs.ForBooking("booking_cancelled", row.BookingId), cancellationToken);
            outcome = PaymentOutcome.RefundedSeatsGone;
        }

        await transaction.CommitAsync(cancellationToken); // announces the booked seats, if any
        return outcome;
    }

    /// <summary>What the provider answered when a PaymentIntent was created for an attempt.</summary>
    /// <param name="AttemptId">The attempt.</param>
    /// <param name="ClientSecret">For the browser (Stripe.js).</param>
    /// <param name="Status">The PaymentIntent's status.</param>
    public sealed record AttemptAnswer(long AttemptId, string? ClientSecret, string Status);

    /// <summary>Records a failed payment attempt; the booking stays payable until its deadline, and the customer is told.</summary>
    public async Task FailedAsync(string provider, string paymentIntentId, string status, string? error, CancellationToken cancellationToken, ProviderEvent? providerEvent = null)
    {
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        if (providerEvent is not null && !await RecordEventAsync(connection, providerEvent, time.GetUtcNow(), cancellationToken))
        {
            return;
        }

        var row = await LockAsync(connection, provider, paymentIntentId, cancellationToken);
        if (row is null || row.AttemptStatus is "succeeded" or "canceled")
        {
            await transaction.CommitAsync(cancellationToken);
            return;
        }

        await using (var mark = new NpgsqlCommand(MarkFailedSql, connection))
        {
            await mark.With("attempt_id", row.AttemptId).With("status", status).With("error", error ?? "The payment failed.").With("now", time.GetUtcNow())
                .ExecuteNonQueryAsync(cancellationToken);
        }
        if (row.BookingStatus == "pending_payment")
        {
            await outbox.EnqueueAsync(connection, EmailArgs.PaymentFailed(row.BookingId, row.AttemptId, error ?? "declined"), cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>Records a refund's state as the provider reports it; a booking whose payment is fully refunded becomes <c>refunded</c>.</summary>
    public Task RefundUpdatedAsync(string providerRefundId, string status, CancellationToken cancellationToken, ProviderEvent? providerEvent = null) =>
        RefundsUpdatedAsync([(providerRefundId, status)], cancellationToken, providerEvent);

    /// <summary>
    /// Records the states of several refunds (a <c>charge.refunded</c> event lists them all) and the
    /// event reporting them in ONE transaction: either the event is recorded and every refund
    /// applied, or neither (a crash between them would otherwise mark the event processed with
    /// nothing applied, and a redelivery would be skipped as a duplicate). False when the event was
    /// already recorded.
    /// </summary>
    public async Task<bool> RefundsUpdatedAsync(
        IReadOnlyList<(string ProviderRefundId, string Status)> refunds, CancellationToken cancellationToken, ProviderEvent? providerEvent = null)
    {
        var now = time.GetUtcNow();
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        if (providerEvent is not null && !await RecordEventAsync(connection, providerEvent, now, cancellationToken))
        {
            return false;
        }

        foreach (var (providerRefundId, status) in refunds)
        {
            await using var command = new NpgsqlCommand(RefundUpdatedSql, connection)
                .With("provider_refund_id", providerRefundId)
                .With("status", status == "succeeded" ? "succeeded" : status is "failed" or "canceled" ? "failed" : "pending")
                .With("now", now);
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        return true;
    }

    /// <summary>Records an event this app does not act on, so a redelivery is recognised; false when already recorded.</summary>
    public async Task<bool> RecordOnlyAsync(ProviderEvent providerEvent, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        return await RecordEventAsync(connection, providerEvent, time.GetUtcNow(), cancellationToken);
    }

    // A concurrent delivery of the same event waits here on the primary key until the first commits,
    // then finds it taken.
    private static async Task<bool> RecordEventAsync(NpgsqlConnection connection, ProviderEvent providerEvent, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("""
            insert into payment_event (provider, provider_event_id, type, received_at, payload)
            values (@provider, @id, @type, @now, @payload::jsonb)
            on conflict (provider, provider_event_id) do nothing
            returning 1
            """, connection);
        command.With("provider", providerEvent.Provider);
        command.With("id", providerEvent.Id);
        command.With("type", providerEvent.Type);
        command.With("payload", providerEvent.Payload);
        command.With("now", now);
        return await command.ExecuteScalarAsync(cancellationToken) is not null;
    }

    private sealed record Locked(long AttemptId, string AttemptStatus, long AttemptAmount, long BookingId, string BookingStatus, long HoldId, long ShowId, long UserId, string Currency);

    // One round trip: the provider's answer recorded on the attempt (when given), then the lock.
    private static async Task<Locked?> LockAsync(
        NpgsqlConnection connection, string provider, string paymentIntentId, CancellationToken cancellationToken, AttemptAnswer? answer = null, DateTimeOffset now = default)
    {
        await using var batch = new NpgsqlBatch(connection);
        if (answer is not null)
        {
            batch.BatchCommands.Add(Checkout.RecordCommand(answer.AttemptId, paymentIntentId, answer.ClientSecret, answer.Status, null, now));
        }

        batch.BatchCommands.Add(new NpgsqlBatchCommand(LockSql).With("provider", provider).With("pi", paymentIntentId));
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? new Locked(reader.Get<long>("payment_attempt_id"), reader.Get<string>("attempt_status"), reader.Get<long>("amount_minor"), reader.Get<long>("booking_id"),
                reader.Get<string>("booking_status"), reader.Get<long>("hold_id"), reader.Get<long>("show_id"), reader.Get<long>("app_user_id"), reader.Get<string>("currency"))
            : null;
    }

    private static List<NpgsqlBatchCommand> MarkSucceeded(long attemptId, long bookingId, long paid, DateTimeOffset now) =>
    [
        new NpgsqlBatchCommand(MarkAttemptSucceededSql).With("attempt_id", attemptId).With("now", now),
        new NpgsqlBatchCommand(MarkBookingPaidSql).With("booking_id", bookingId).With("paid", paid),
    ];

    // The one place that decides who hears of a confirmation, and how: an email always, an SMS when the customer wants one.
    private static NpgsqlBatchCommand[] ConfirmationMessages(long bookingId, DateTimeOffset now) =>
    [
        new NpgsqlBatchCommand(ConfirmationEmailSql).With("booking_id", bookingId).With("now", now),
        new NpgsqlBatchCommand(ConfirmationSmsSql).With("booking_id", bookingId).With("now", now),
        new NpgsqlBatchCommand(DeadlineNoLongerNeededSql).With("booking_id", bookingId).With("now", now),
    ];

    private async Task RefundAsync(NpgsqlConnection connection, Locked row, long amount, string reason, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(RefundSql, connection);
        command.With("booking_id", row.BookingId);
        command.With("attempt_id", row.AttemptId);
        command.With("amount", amount);
        command.With("currency", row.Currency);
        command.With("reason", reason);
        command.With("key", $"refund-{row.BookingId}-{reason}-{row.AttemptId}");
        command.With("now", now);
        var refundId = (long?)await command.ExecuteScalarAsync(cancellationToken);
        if (refundId is { } id)
        {
            await outbox.EnqueueAsync(connection, new RefundArgs(id), cancellationToken);
        }
    }

    private const string LockSql = """
        select a.payment_attempt_id, a.status as attempt_status, a.amount_minor, b.booking_id, b.status as booking_status, b.hold_id, b.show_id, b.app_user_id, b.currency
        from payment_attempt a
        join booking b on b.booking_id = a.booking_id
        where a.provider = @provider and a.provider_payment_id = @pi
        for update of a, b
        """;

    private const string MarkAttemptSucceededSql = """
        update payment_attempt set status = 'succeeded', last_error = null, updated_at = @now where payment_attempt_id = @attempt_id
        """;

    private const string MarkBookingPaidSql = """
        update booking set paid_minor = paid_minor + @paid where booking_id = @booking_id
        """;

    // Sent after SeatInventory's book statement in its round trip: queued only if that confirmed the booking.
    private static readonly string ConfirmationEmailSql = JobSql.Insert<EmailArgs>("""
        select 'booking_confirmed'::text as template, b.booking_id, @now as run_at, @now as created_at
        from booking b
        where b.booking_id = @booking_id and b.status = 'confirmed'
        """, skipDuplicates: true, "template", "booking_id");

    private static readonly string ConfirmationSmsSql = SmsArgs.ForBookings("booking_confirmed", """
        select b.booking_id from booking b where b.booking_id = @booking_id and b.status = 'confirmed'
        """);

    // A confirmed booking has nothing left for its payment deadline to settle: the waiting deadline
    // job is cancelled in the confirming transaction rather than left to be claimed, read the
    // booking and do nothing (one per booking, each claim scanning past the others). A deadline job
    // already running is left to finish: it finds the booking confirmed.
    private static readonly string DeadlineNoLongerNeededSql = JobSql.CancelByKey<PaymentDeadlineArgs>("""
        select b.booking_id from booking b where b.booking_id = @booking_id and b.status = 'confirmed'
        """);

    private const string MarkFailedSql = """
        update payment_attempt set status = @status, last_error = @error, updated_at = @now where payment_attempt_id = @attempt_id
        """;

    private const string SeatsGoneSql = """
        update booking set status = 'cancelled', cancelled_at = @now where booking_id = @booking_id;
        insert into audit_log (occurred_at, actor_user_id, action, entity, entity_id, before, after)
        values (@now, null, 'booking.cancelled', 'booking', @booking_id, null, jsonb_build_object('reason', 'paid after the seats were taken'));
        """;

    // Reserves the amount against what was paid (the check constraint refuses more), then records the refund.
    private const string RefundSql = """
        with reserved as (
          update booking set refunded_minor = refunded_minor + @amount
          where booking_id = @booking_id and refunded_minor + @amount <= paid_minor
          returning booking_id
        )
        insert into refund (booking_id, payment_attempt_id, amount_minor, currency, reason, idempotency_key, created_at, updated_at)
        select @booking_id, @attempt_id, @amount, @currency, @reason, @key, @now, @now from reserved
        on conflict (idempotency_key) do nothing
        returning refund_id
        """;

    // Two statements: the second must see the first's change (a CTE's would be invisible to it).
    private const string RefundUpdatedSql = """
        update refund set status = @status, updated_at = @now where provider_refund_id = @provider_refund_id;
        update booking b set status = 'refunded'
        where b.booking_id = (select booking_id from refund where provider_refund_id = @provider_refund_id)
          and b.status = 'cancelled' and b.refunded_minor = b.paid_minor
          and not exists (select 1 from refund r where r.booking_id = b.booking_id and r.status <> 'succeeded');
        """;
}

using Holdfast.Features.Inventory;
using Holdfast.Features.Jobs;
using Holdfast.Infrastructure;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Jobs;
using Holdfast.Infrastructure.Payments;
using Holdfast.Infrastructure.SeatFeed;
using Npgsql;

namespace Holdfast.Features.Checkout;

/// <summary>
/// The <c>payments.refund</c> job: asks the provider to refund one <c>refund</c> row, with the row's
/// own idempotency key, until it is done. Transient failures retry with backoff (up to 50 attempts);
/// a refusal marks the refund failed for an admin to look at.
/// </summary>
public sealed class ProcessRefund(NpgsqlDataSource db, IPaymentGateway gateway, PaymentProcessing payments, TimeProvider time) : JobHandler<RefundArgs>
{
    /// <summary>
    /// SQL for a data-modifying CTE that queues one refund job per row of <paramref name="refunds"/>
    /// (a query with <c>refund_id</c>), due at <c>@now</c>.
    /// </summary>
    public static string EnqueueSql(string refunds) =>
        JobSql.Insert<RefundArgs>($"select refund_id, @now as run_at, @now as created_at from {refunds}");

    /// <inheritdoc />
    public override async Task HandleAsync(JobContext job, RefundArgs args, CancellationToken cancellationToken)
    {
        var refundId = args.RefundId;
        await using var read = db.CreateCommand("""
            select r.status, r.amount_minor, r.idempotency_key, a.provider_payment_id
            from refund r join payment_attempt a on a.payment_attempt_id = r.payment_attempt_id
            where r.refund_id = @refund_id
            """);
        read.With("refund_id", refundId);
        string status, key, paymentIntent;
        long amount;
        await using (var reader = await read.ExecuteReaderAsync(cancellationToken))
        {
            if (!await reader.ReadAsync(cancellationToken))
            {
                return;
            }

            (status, amount, key, paymentIntent) = (reader.Get<string>("status"), reader.Get<long>("amount_minor"), reader.Get<string>("idempotency_key"), reader.Get<string>("provider_payment_id"));
        }

        if (status != "pending")
        {
            return;
        }

        RefundResult result;
        try
        {
            result = await gateway.CreateRefundAsync(paymentIntent, amount, key, cancellationToken);
        }
        catch (PaymentProviderException ex) when (!ex.Transient)
        {
            await using var failed = db.CreateCommand("update refund set status = 'failed', last_error = @error, updated_at = @now where refund_id = @refund_id");
            failed.With("refund_id", refundId);
            failed.With("error", ex.Message);
            failed.With("now", time.GetUtcNow());
            await failed.ExecuteNonQueryAsync(cancellationToken);
            throw new PermanentJobException($"Refund {refundId} refused: {ex.Message}", ex);
        }

        await using (var recorded = db.CreateCommand("update refund set provider_refund_id = @provider_refund_id, updated_at = @now where refund_id = @refund_id"))
        {
            recorded.With("refund_id", refundId);
            recorded.With("provider_refund_id", result.Id);
            recorded.With("now", time.GetUtcNow());
            await recorded.ExecuteNonQueryAsync(cancellationToken);
        }

        await payments.RefundUpdatedAsync(result.Id, result.Status, cancellationToken);
    }
}

/// <summary>
/// The <c>payments.deadline</c> job, at a pending booking's payment deadline: asks the provider
/// about its PaymentIntents first (a webhook may be late or lost), confirms if one succeeded, waits a
/// little longer if one is still processing, and otherwise cancels them, expires the booking,
/// releases its seats (announced on the seat feed) and emails the customer that they went back.
/// </summary>
public sealed class PaymentDeadline(NpgsqlDataSource db, IPaymentGateway gateway, PaymentProcessing payments, SeatFeedAnnouncer announcer, JobOutbox outbox, TimeProvider time, ILogger<PaymentDeadline> logger) : JobHandler<PaymentDeadlineArgs>
{
    // Who hears that the deadline passed, and how: an SMS when the customer wants booking messages
    // by SMS (queued only if this run expired the booking).
    private static readonly string ExpiredSmsSql = ";\n" + SmsArgs.ForBookings("payment_expired", """
        select b.booking_id from booking b where b.booking_id = @booking_id and b.status = 'expired' and b.cancelled_at = @now
        """);

    /// <inheritdoc />
    public override async Task HandleAsync(JobContext job, PaymentDeadlineArgs args, CancellationToken cancellationToken) =>
        await SettleAsync(args.BookingId, cancellationToken);

    /// <summary>Settles one pending booking past its deadline (also called by reconciliation).</summary>
    public async Task SettleAsync(long bookingId, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        await using var read = db.CreateCommand("""
            select b.status, b.payment_deadline, b.hold_id,
                   coalesce(array_agg(a.provider_payment_id) filter (where a.provider_payment_id is not null), '{}') as intents
            from booking b left join payment_attempt a on a.booking_id = b.booking_id
            where b.booking_id = @booking_id
            group by b.booking_id
            """);
        read.With("booking_id", bookingId);
        string status;
        DateTime deadline;
        long holdId;
        string[] intents;
        await using (var reader = await read.ExecuteReaderAsync(cancellationToken))
        {
            if (!await reader.ReadAsync(cancellationToken))
            {
                return;
            }

            (status, deadline, holdId, intents) = (reader.Get<string>("status"), reader.Get<DateTime>("payment_deadline"), reader.Get<long>("hold_id"), reader.Get<string[]>("intents"));
        }

        if (status != "pending_payment")
        {
            return;
        }

        if (deadline > now.UtcDateTime)
        {
            throw new InvalidOperationException($"Booking {bookingId} is payable until {deadline:O}; retrying.");
        }

        // An attempt whose PaymentIntent id was never recorded may still have taken the money: find
        // it before deciding the booking was not paid (a failure to ask retries this job).
        intents = [.. intents, .. await Checkout.RecoverAsync(db, gateway, bookingId, time, logger, cancellationToken)];
        foreach (var id in intents)
        {
            var intent = await gateway.RetrievePaymentIntentAsync(id, cancellationToken);
            if (intent.Status == "succeeded")
            {
                await payments.SucceededAsync(gateway.Provider, intent.Id, intent.AmountReceived, cancellationToken);
                return;
            }

            if (intent.Status == "processing" && now.UtcDateTime < deadline.AddHours(1))
            {
                throw new InvalidOperationException($"Payment {id} of booking {bookingId} is still processing; asking again later.");
            }
        }

        foreach (var id in intents)
        {
            await gateway.CancelPaymentIntentAsync(id, $"cancel-{id}", cancellationToken);
        }

        await using var seats = await SeatTransaction.OpenAsync(db, announcer, cancellationToken);
        await using (var expire = new NpgsqlCommand("""
            with expired as (
              update booking set status = 'expired', cancelled_at = @now where booking_id = @booking_id and status = 'pending_payment' returning booking_id
            ), attempts as (
              update payment_attempt set status = 'canceled', updated_at = @now where booking_id = @booking_id and status <> 'succeeded'
            )
            select count(*) from expired
            """ + ExpiredSmsSql, seats.Connection).With("booking_id", bookingId).With("now", now))
        {
            // The customer is told the seats went back, in the same transaction (never told twice:
            // the email's unique key is the booking).
            if ((long)(await expire.ExecuteScalarAsync(cancellationToken))! > 0)
            {
                await outbox.EnqueueAsync(seats.Connection, EmailArgs.ForBooking("booking_expired", bookingId), cancellationToken);
            }
        }

        // The hold was extended to the deadline; end it now rather than wait for its own job.
        await SeatInventory.ExpireAtDeadlineAsync(seats, holdId, now, cancellationToken);
        await seats.CommitAsync(cancellationToken); // announces the freed seats
    }
}

/// <summary>
/// The <c>payments.reconcile</c> recurring job (every 5 minutes): settles bookings still pending
/// well past their deadline (their deadline job was lost or kept failing) and asks the provider
/// about payments still open on bookings that expired in the last day, since webhooks get lost.
/// </summary>
public sealed class ReconcilePayments(NpgsqlDataSource db, IPaymentGateway gateway, PaymentDeadline deadline, PaymentProcessing payments, TimeProvider time, ILogger<ReconcilePayments> logger) : JobHandler<ReconcilePaymentsArgs>
{
    /// <inheritdoc />
    public override async Task HandleAsync(JobContext job, ReconcilePaymentsArgs args, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        foreach (var bookingId in await IdsAsync(StaleSql, now, cancellationToken))
        {
            await deadline.SettleAsync(bookingId, cancellationToken);
        }

        // Bookings that expired with an attempt whose PaymentIntent id was never recorded: find the
        // PaymentIntent; the loop below then confirms, re-takes or refunds a paid one.
        foreach (var bookingId in await IdsAsync(UnrecordedSql, now, cancellationToken))
        {
            try
            {
                await Checkout.RecoverAsync(db, gateway, bookingId, time, logger, cancellationToken);
            }
            catch (PaymentProviderException ex)
            {
                logger.LogWarning(ex, "Could not ask the provider about booking {BookingId}; trying at the next reconciliation", bookingId);
            }
        }

        await using var open = db.CreateCommand(OpenAttemptsSql);
        open.With("now", now);
        var attempts = new List<string>();
        await using (var reader = await open.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                attempts.Add(reader.Get<string>("provider_payment_id"));
            }
        }

        foreach (var id in attempts)
        {
            var intent = await gateway.RetrievePaymentIntentAsync(id, cancellationToken);
            if (intent.Status == "succeeded")
            {
                await payments.SucceededAsync(gateway.Provider, intent.Id, intent.AmountReceived, cancellationToken);
            }
        }
    }

    // The booking_id column of sql, a query over @now.
    private async Task<List<long>> IdsAsync(string sql, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand(sql);
        command.With("now", now);
        var ids = new List<long>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            ids.Add(reader.Get<long>("booking_id"));
        }

        return ids;
    }

    private const string StaleSql = """
        select booking_id from booking
        where status = 'pending_payment' and payment_deadline < @now - interval '2 minutes'
        order by payment_deadline limit 200
        """;

    private const string OpenAttemptsSql = """
        select a.provider_payment_id
        from payment_attempt a join booking b on b.booking_id = a.booking_id
        where b.status = 'expired' and b.cancelled_at > @now - interval '1 day'
          and a.provider_payment_id is not null and a.status in ('processing', 'requires_action', 'requires_confirmation', 'canceled', 'created', 'failed')
        order by a.payment_attempt_id desc limit 200
        """;

    private const string UnrecordedSql = """
        select distinct b.booking_id
        from payment_attempt a join booking b on b.booking_id = a.booking_id
        where b.status = 'expired' and b.cancelled_at > @now - interval '1 day'
          and a.provider_payment_id is null and a.status in ('created', 'failed', 'canceled')
        limit 200
        """;
}

/// <summary>Registers the payment gateway, processing and reconciliation.</summary>
public sealed class PaymentServices : IConfigureServices
{
    /// <inheritdoc />
    public void ConfigureServices(IServiceCollection services, IConfiguration configuration)
    {
        services.AddSettings<PaymentOptions>("Payments");
        services.AddSingleton<PaymentProcessing>();
        services.AddSingleton<PaymentDeadline>();
        services.AddSingleton(RecurringJob.Of<ReconcilePaymentsArgs>("payments.reconcile", "*/5 * * * *"));
    }
}

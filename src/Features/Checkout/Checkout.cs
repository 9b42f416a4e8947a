using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Holdfast.Infrastructure.Payments;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace Holdfast.Features.Checkout;

/// <summary>
/// One payment attempt for a pending booking: a new row with a new idempotency key (never the
/// booking id: a declined card must not poison the retry, alf.io #1254), a PaymentIntent at the
/// provider, and its immediate outcome processed like any webhook would be.
/// </summary>
internal static class Checkout
{
    /// <summary>
    /// Inserts an attempt for <paramref name="bookingId"/> with everything its PaymentIntent will be
    /// created with (amount in minor units, ISO 4217 currency, payment method, idempotency key),
    /// committed before the provider is called, so a crash after the provider's answer leaves an
    /// attempt that <see cref="RecoverAsync"/> can find the PaymentIntent of. Returns its id and key.
    /// </summary>
    public static async Task<(long AttemptId, string Key)> CreateAttemptAsync(
        NpgsqlConnection connection, long bookingId, string provider, long amount, string currency, string? paymentMethod, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var key = $"booking-{bookingId}-{Guid.NewGuid():N}";
        await using var command = new NpgsqlCommand(CreateAttemptSql, connection);
        command.With("booking_id", bookingId);
        command.With("provider", provider);
        command.With("key", key);
        command.With("amount", amount);
        command.With("currency", currency);
        command.With("payment_method", paymentMethod);
        command.With("now", now);
        return ((long)(await command.ExecuteScalarAsync(cancellationToken))!, key);
    }

    /// <summary>
    /// Creates the PaymentIntent and processes what it says at once. Returns null when the booking is
    /// confirmed or awaiting the browser; a 402 problem for a decline (the booking stays payable);
    /// a 502 problem when the provider could not be reached. No connection is held while the provider
    /// is called (its latency must not drain the pool); one is opened once it has answered, used for
    /// everything after, and handed back for the caller to read the booking on and dispose.
    /// </summary>
    public static async Task<(ProblemHttpResult? Problem, NpgsqlConnection Connection)> RunAttemptAsync(
        NpgsqlDataSource db, IPaymentGateway gateway, PaymentProcessing payments, long bookingId, long attemptId, string key,
        long amount, string currency, string? paymentMethod, DateTimeOffset deadline, TimeProvider time, CancellationToken cancellationToken)
    {
        PaymentIntent? intent = null;
        PaymentProviderException? failure = null;
        try
        {
            intent = await gateway.CreatePaymentIntentAsync(Request(bookingId, key, amount, currency, paymentMethod), cancellationToken);
        }
        catch (PaymentProviderException ex)
        {
            failure = ex;
        }

        var connection = await db.OpenConnectionAsync(cancellationToken);
        try
        {
            return (await ProcessAsync(connection, gateway, payments, bookingId, attemptId, intent, failure, deadline, time, cancellationToken), connection);
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    private static async Task<ProblemHttpResult?> ProcessAsync(
        NpgsqlConnection connection, IPaymentGateway gateway, PaymentProcessing payments, long bookingId, long attemptId,
        PaymentIntent? intent, PaymentProviderException? failure, DateTimeOffset deadline, TimeProvider time, CancellationToken cancellationToken)
    {
        if (intent is null)
        {
            var ex = failure!;
            await RecordAsync(connection, attemptId, null, null, "failed", ex.Message, time, cancellationToken);
            return TypedResults.Problem(statusCode: ex.Transient ? StatusCodes.Status502BadGateway : StatusCodes.Status402PaymentRequired,
                title: ex.Transient ? "Payment provider unavailable." : "Payment refused.",
                detail: $"{ex.Message} Booking {bookingId} stays payable until {deadline:O}: POST /bookings/{bookingId}/payments to try again.",
                extensions: new Dictionary<string, object?> { ["booking_id"] = bookingId, ["payment_deadline"] = deadline, ["code"] = ex.Code });
        }

        if (intent.Status == "succeeded")
        {
            // The answer is recorded in the confirmation's own transaction: one round trip fewer, and
            // if that transaction is lost the attempt (committed before the call) is replayed.
            await payments.SucceededAsync(connection, gateway.Provider, intent.Id, intent.AmountReceived,
                new PaymentProcessing.AttemptAnswer(attemptId, intent.ClientSecret, intent.Status), cancellationToken);
            return null;
        }

        await RecordAsync(connection, attemptId, intent.Id, intent.ClientSecret, intent.Status, intent.LastError, time, cancellationToken);
        if (intent is { Status: "requires_payment_method", LastError: { } declined })
        {
            await payments.FailedAsync(gateway.Provider, intent.Id, intent.Status, declined, cancellationToken);
            return TypedResults.Problem(statusCode: StatusCodes.Status402PaymentRequired, title: "Payment declined.",
                detail: $"{declined} Booking {bookingId} stays payable until {deadline:O}: POST /bookings/{bookingId}/payments to try again.",
                extensions: new Dictionary<string, object?> { ["booking_id"] = bookingId, ["payment_deadline"] = deadline, ["decline_reason"] = declined });
        }

        return null;
    }

    // One definition of what an attempt's PaymentIntent is created with: the checkout and the replay
    // that recovers it must send the same parameters, or Stripe refuses the reused key.
    private static PaymentIntentRequest Request(long bookingId, string key, long amount, string currency, string? paymentMethod) =>
        new(amount, currency, key, $"Holdfast booking {bookingId}", bookingId, paymentMethod);

    /// <summary>
    /// Finds the PaymentIntents of <paramref name="bookingId"/>'s attempts whose id was never recorded
    /// (the node died between the provider's answer and the record, or the call timed out) by replaying
    /// each create with its stored idempotency key and parameters: the provider answers with the
    /// PaymentIntent it made the first time (Stripe: https://docs.stripe.com/api/idempotent_requests),
    /// or makes it now if the first call never arrived. Records each id and returns them.
    /// </summary>
    /// <exception cref="PaymentProviderException">
    /// The provider could not be asked about an attempt that was never answered (status
    /// <c>created</c>); the caller retries rather than settle without knowing.
    /// </exception>
    public static async Task<IReadOnlyList<string>> RecoverAsync(
        NpgsqlDataSource db, IPaymentGateway gateway, long bookingId, TimeProvider time, ILogger logger, CancellationToken cancellationToken)
    {
        var unrecorded = new List<(long AttemptId, string Key, long Amount, string Currency, string? Method, string Status)>();
        await using (var read = db.CreateCommand(UnrecordedSql))
        {
            read.With("booking_id", bookingId);
            await using var reader = await read.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                unrecorded.Add((reader.Get<long>("payment_attempt_id"), reader.Get<string>("idempotency_key"), reader.Get<long>("amount_minor"), reader.Get<string>("currency"),
                    reader.Get<string?>("payment_method"), reader.Get<string>("status")));
            }
        }

        var found = new List<string>();
        foreach (var attempt in unrecorded)
        {
            PaymentIntent intent;
            try
            {
                intent = await gateway.CreatePaymentIntentAsync(Request(bookingId, attempt.Key, attempt.Amount, attempt.Currency, attempt.Method), cancellationToken);
            }
            catch (PaymentProviderException ex) when (!ex.Transient || attempt.Status != "created")
            {
                // The provider refuses this create for good, or it failed when first sent and was
                // recorded as such: there is no payment behind it.
                logger.LogWarning("Attempt {AttemptId} of booking {BookingId} has no PaymentIntent: {Error}", attempt.AttemptId, bookingId, ex.Message);
                continue;
            }

            logger.LogWarning("Recovered PaymentIntent {PaymentIntent} ({Status}) of attempt {AttemptId}, booking {BookingId}, whose id was never recorded",
                intent.Id, intent.Status, attempt.AttemptId, bookingId);
            await using (var connection = await db.OpenConnectionAsync(cancellationToken))
            {
                await RecordAsync(connection, attempt.AttemptId, intent.Id, intent.ClientSecret, intent.Status, intent.LastError, time, cancellationToken);
            }

            found.Add(intent.Id);
        }

        return found;
    }

    private static async Task RecordAsync(
        NpgsqlConnection connection, long attemptId, string? providerId, string? secret, string status, string? error, TimeProvider time, CancellationToken cancellationToken)
    {
        await using var batch = new NpgsqlBatch(connection) { BatchCommands = { RecordCommand(attemptId, providerId, secret, status, error, time.GetUtcNow()) } };
        await batch.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>The statement that records the provider's answer on an attempt, for the caller's batch.</summary>
    internal static NpgsqlBatchCommand RecordCommand(long attemptId, string? providerId, string? secret, string status, string? error, DateTimeOffset now) =>
        new NpgsqlBatchCommand(RecordSql).With("attempt_id", attemptId).With("provider_id", providerId).With("secret", secret).With("status", status)
            .With("error", error).With("now", now);

    private const string RecordSql = """
        update payment_attempt
        set provider_payment_id = coalesce(@provider_id, provider_payment_id), client_secret = coalesce(@secret, client_secret),
            -- 'succeeded' is PaymentProcessing's to set: it is the compare-and-set that confirms once.
            status = case when status = 'succeeded' or @status = 'succeeded' then status else @status end,
            last_error = @error, updated_at = @now
        where payment_attempt_id = @attempt_id
        """;

    private const string CreateAttemptSql = """
        insert into payment_attempt (booking_id, provider, idempotency_key, amount_minor, currency, payment_method, created_at, updated_at)
        values (@booking_id, @provider, @key, @amount, @currency, @payment_method, @now, @now)
        returning payment_attempt_id
        """;

    // Attempts whose PaymentIntent id never reached the database: never answered ('created'), failed
    // when sent ('failed': a timeout may still have made one), or cancelled by an expiry that did
    // not know of them (before migration 0023's fix).
    private const string UnrecordedSql = """
        select payment_attempt_id, idempotency_key, amount_minor, currency, payment_method, status
        from payment_attempt
        where booking_id = @booking_id and provider_payment_id is null and status in ('created', 'failed', 'canceled')
        order by payment_attempt_id
        """;
}

using Holdfast.Infrastructure.Http;
using Holdfast.Infrastructure.Payments;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace Holdfast.Features.Payments;

/// <summary>
/// One payment attempt for a pending booking: a new row with a new idempotency key (never the
/// booking id: a declined card must not poison the retry, alf.io #1254), a PaymentIntent at the
/// provider, and its immediate outcome processed like any webhook would be.
/// </summary>
internal static class Checkout
{
    /// <summary>Inserts an attempt for <paramref name="bookingId"/>; returns its id and idempotency key.</summary>
    public static async Task<(long AttemptId, string Key)> CreateAttemptAsync(
        NpgsqlConnection connection, long bookingId, string provider, long amount, string currency, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var key = $"booking-{bookingId}-{Guid.NewGuid():N}";
        await using var command = new NpgsqlCommand(CreateAttemptSql, connection);
        command.Parameters.Add(new NpgsqlParameter<long>("booking_id", bookingId));
        command.Parameters.Add(new NpgsqlParameter<string>("provider", provider));
        command.Parameters.Add(new NpgsqlParameter<string>("key", key));
        command.Parameters.Add(new NpgsqlParameter<long>("amount", amount));
        command.Parameters.Add(new NpgsqlParameter<string>("currency", currency));
        command.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", now));
        return ((long)(await command.ExecuteScalarAsync(cancellationToken))!, key);
    }

    /// <summary>
    /// Creates the PaymentIntent and processes what it says at once. Returns null when the booking is
    /// confirmed or awaiting the browser; a 402 problem for a decline (the booking stays payable);
    /// a 502 problem when the provider could not be reached.
    /// </summary>
    public static async Task<ProblemHttpResult?> RunAttemptAsync(
        NpgsqlDataSource db, IPaymentGateway gateway, PaymentProcessing payments, long bookingId, long attemptId, string key,
        long amount, string currency, string? paymentMethod, DateTimeOffset deadline, TimeProvider time, CancellationToken cancellationToken)
    {
        PaymentIntent intent;
        try
        {
            intent = await gateway.CreatePaymentIntentAsync(
                new PaymentIntentRequest(amount, currency, key, $"Holdfast booking {bookingId}", bookingId, paymentMethod), cancellationToken);
        }
        catch (PaymentProviderException ex)
        {
            await RecordAsync(db, attemptId, null, null, "failed", ex.Message, time, cancellationToken);
            return TypedResults.Problem(statusCode: ex.Transient ? StatusCodes.Status502BadGateway : StatusCodes.Status402PaymentRequired,
                title: ex.Transient ? "Payment provider unavailable." : "Payment refused.",
                detail: $"{ex.Message} Booking {bookingId} stays payable until {deadline:O}: POST /bookings/{bookingId}/payments to try again.",
                extensions: new Dictionary<string, object?> { ["booking_id"] = bookingId, ["payment_deadline"] = deadline, ["code"] = ex.Code });
        }

        await RecordAsync(db, attemptId, intent.Id, intent.ClientSecret, intent.Status, intent.LastError, time, cancellationToken);
        if (intent.Status == "succeeded")
        {
            await payments.SucceededAsync(gateway.Provider, intent.Id, intent.AmountReceived, cancellationToken);
            return null;
        }

        if (intent is { Status: "requires_payment_method", LastError: { } declined })
        {
            await payments.FailedAsync(gateway.Provider, intent.Id, intent.Status, declined, cancellationToken);
            return TypedResults.Problem(statusCode: StatusCodes.Status402PaymentRequired, title: "Payment declined.",
                detail: $"{declined} Booking {bookingId} stays payable until {deadline:O}: POST /bookings/{bookingId}/payments to try again.",
                extensions: new Dictionary<string, object?> { ["booking_id"] = bookingId, ["payment_deadline"] = deadline, ["decline_reason"] = declined });
        }

        return null;
    }

    private static async Task RecordAsync(
        NpgsqlDataSource db, long attemptId, string? providerId, string? secret, string status, string? error, TimeProvider time, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand("""
            update payment_attempt
            set provider_payment_id = coalesce(@provider_id, provider_payment_id), client_secret = coalesce(@secret, client_secret),
                -- 'succeeded' is PaymentProcessing's to set: it is the compare-and-set that confirms once.
                status = case when status = 'succeeded' or @status = 'succeeded' then status else @status end,
                last_error = @error, updated_at = @now
            where payment_attempt_id = @attempt_id
            """);
        command.Parameters.Add(new NpgsqlParameter<long>("attempt_id", attemptId));
        command.Parameters.Add(new NpgsqlParameter<string?>("provider_id", providerId));
        command.Parameters.Add(new NpgsqlParameter<string?>("secret", secret));
        command.Parameters.Add(new NpgsqlParameter<string>("status", status));
        command.Parameters.Add(new NpgsqlParameter<string?>("error", error));
        command.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", time.GetUtcNow()));
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private const string CreateAttemptSql = """
        insert into payment_attempt (booking_id, provider, idempotency_key, amount_minor, currency, created_at, updated_at)
        values (@booking_id, @provider, @key, @amount, @currency, @now, @now)
        returning payment_attempt_id
        """;
}

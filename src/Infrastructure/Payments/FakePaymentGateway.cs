namespace Holdfast.Infrastructure.Payments;

/// <summary>A PaymentIntent to create (Stripe API: POST /v1/payment_intents).</summary>
/// <param name="AmountMinor">Amount in the currency's minor units (pence, cents; yen for JPY).</param>
/// <param name="Currency">ISO 4217 code, upper case (sent lower case to Stripe).</param>
/// <param name="IdempotencyKey">Unique per attempt, so a retried call creates one PaymentIntent.</param>
/// <param name="Description">Shown in the provider's dashboard.</param>
/// <param name="BookingId">Stored as <c>metadata[booking_id]</c>.</param>
/// <param name="PaymentMethod">When given, confirm at once with it (e.g. Stripe's test <c>pm_card_visa</c>); otherwise the browser confirms with the client secret.</param>
public sealed record PaymentIntentRequest(long AmountMinor, string Currency, string IdempotencyKey, string Description, long BookingId, string? PaymentMethod);

/// <summary>A PaymentIntent as the provider reports it.</summary>
/// <param name="Id">The provider's id (<c>pi_…</c>).</param>
/// <param name="Status">Stripe's status: requires_payment_method, requires_action, processing, succeeded, canceled, …</param>
/// <param name="ClientSecret">For the browser to confirm the payment (Stripe.js).</param>
/// <param name="AmountReceived">Minor units actually captured.</param>
/// <param name="LastError">Why the last attempt to pay failed, if it did.</param>
public sealed record PaymentIntent(string Id, string Status, string? ClientSecret, long AmountReceived, string? LastError);

/// <summary>A refund as the provider reports it.</summary>
/// <param name="Id">The provider's id (<c>re_…</c>).</param>
/// <param name="Status">pending, succeeded, failed or canceled.</param>
public sealed record RefundResult(string Id, string Status);

/// <summary>The provider refused or failed a call; <see cref="Transient"/> says whether a retry may help.</summary>
public sealed class PaymentProviderException(string message, int statusCode, string? type, string? code, bool transient, Exception? inner = null)
    : Exception(message, inner)
{
    /// <summary>HTTP status from the provider (0 when it could not be reached).</summary>
    public int StatusCode { get; } = statusCode;

    /// <summary>Stripe's error type (card_error, invalid_request_error, api_error, …).</summary>
    public string? Type { get; } = type;

    /// <summary>Stripe's error code (card_declined, …).</summary>
    public string? Code { get; } = code;

    /// <summary>True for network failures, 429 and 5xx.</summary>
    public bool Transient { get; } = transient;
}

/// <summary>
/// Takes and returns money: Stripe PaymentIntents and Refunds, or the built-in fake. Payment
/// outcomes arrive as events (Stripe webhooks; the fake calls the same processing directly).
/// </summary>
public interface IPaymentGateway
{
    /// <summary>Short provider name stored with payments (<c>fake</c>, <c>stripe</c>).</summary>
    string Provider { get; }

    /// <summary>Creates (and, with a payment method, confirms) a PaymentIntent. A declined card is not an exception: see <see cref="PaymentIntent.Status"/>.</summary>
    /// <exception cref="PaymentProviderException">The provider failed or refused the request.</exception>
    Task<PaymentIntent> CreatePaymentIntentAsync(PaymentIntentRequest request, CancellationToken cancellationToken);

    /// <summary>Reads a PaymentIntent (for reconciliation when webhooks are lost).</summary>
    Task<PaymentIntent> RetrievePaymentIntentAsync(string id, CancellationToken cancellationToken);

    /// <summary>Cancels a PaymentIntent that was not paid, so it can no longer be.</summary>
    Task CancelPaymentIntentAsync(string id, string idempotencyKey, CancellationToken cancellationToken);

    /// <summary>Refunds <paramref name="amountMinor"/> of a succeeded PaymentIntent.</summary>
    Task<RefundResult> CreateRefundAsync(string paymentIntentId, long amountMinor, string idempotencyKey, CancellationToken cancellationToken);
}

/// <summary>
/// The built-in gateway for local runs and tests, told what to do by the payment method, as
/// Stripe's test cards are: <c>pm_card_visa</c> (or none) succeeds at once,
/// <c>pm_card_chargeDeclined</c> is declined, <c>pm_fake_late</c> stays processing until the
/// reconciliation asks (then succeeds), <c>pm_fake_unavailable</c> fails as if the provider were down.
/// </summary>
public sealed class FakePaymentGateway : IPaymentGateway
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, PaymentIntent> intents = new(StringComparer.Ordinal);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, long> amounts = new(StringComparer.Ordinal);

    /// <inheritdoc />
    public string Provider => "fake";

    /// <inheritdoc />
    public Task<PaymentIntent> CreatePaymentIntentAsync(PaymentIntentRequest request, CancellationToken cancellationToken)
    {
        if (request.PaymentMethod == "pm_fake_unavailable")
        {
            throw new PaymentProviderException("The fake provider is unavailable.", 503, "api_error", null, transient: true);
        }

        var intent = intents.GetOrAdd(request.IdempotencyKey, key =>
        {
            var id = "pi_fake_" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(key)))[..24];
            amounts[id] = request.AmountMinor;
            return request.PaymentMethod switch
            {
                "pm_card_chargeDeclined" => new PaymentIntent(id, "requires_payment_method", id + "_secret", 0, "Your card was declined."),
                "pm_fake_late" => new PaymentIntent(id, "processing", id + "_secret", 0, null),
                _ => new PaymentIntent(id, "succeeded", id + "_secret", request.AmountMinor, null),
            };
        });
        return Task.FromResult(intent);
    }

    /// <inheritdoc />
    public Task<PaymentIntent> RetrievePaymentIntentAsync(string id, CancellationToken cancellationToken)
    {
        var entry = intents.FirstOrDefault(i => i.Value.Id == id);
        var intent = entry.Value ?? new PaymentIntent(id, "canceled", null, 0, null);
        // A late payment settles when someone asks.
        return Task.FromResult(intent.Status == "processing" ? intents[entry.Key] = intent with { Status = "succeeded", AmountReceived = amounts[id] } : intent);
    }

    /// <inheritdoc />
    public Task CancelPaymentIntentAsync(string id, string idempotencyKey, CancellationToken cancellationToken)
    {
        foreach (var (key, intent) in intents.Where(i => i.Value.Id == id && i.Value.Status != "succeeded"))
        {
            intents[key] = intent with { Status = "canceled" };
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task<RefundResult> CreateRefundAsync(string paymentIntentId, long amountMinor, string idempotencyKey, CancellationToken cancellationToken) =>
        Task.FromResult(new RefundResult("re_fake_" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(idempotencyKey)))[..24], "succeeded"));
}

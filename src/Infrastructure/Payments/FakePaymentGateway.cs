namespace Holdfast.Infrastructure.Payments;

/// <summary>A charge to make: an amount in minor units of an ISO 4217 currency.</summary>
/// <param name="AmountMinor">Amount in the currency's minor units (pence, cents; yen for JPY).</param>
/// <param name="Currency">ISO 4217 code, upper case.</param>
/// <param name="IdempotencyKey">Unique per payment attempt, so a retried call charges once.</param>
/// <param name="Description">Shown on the customer's statement and in the provider's dashboard.</param>
public sealed record PaymentRequest(long AmountMinor, string Currency, string IdempotencyKey, string Description);

/// <summary>The outcome of a charge.</summary>
/// <param name="Succeeded">True when the money was taken.</param>
/// <param name="Reference">The provider's id for the payment (e.g. a PaymentIntent id).</param>
/// <param name="DeclineReason">Why it failed, when it did.</param>
public sealed record PaymentResult(bool Succeeded, string Reference, string? DeclineReason);

/// <summary>
/// Takes money. The walking skeleton charges synchronously; the payments issue replaces this with
/// Stripe PaymentIntents confirmed by signed webhooks, keeping the fake as the local default.
/// </summary>
public interface IPaymentGateway
{
    /// <summary>Short provider name stored with the booking (<c>fake</c>, <c>stripe</c>).</summary>
    string Provider { get; }

    /// <summary>Charges <paramref name="request"/>; the same idempotency key always gives the same result.</summary>
    Task<PaymentResult> ChargeAsync(PaymentRequest request, CancellationToken cancellationToken);
}

/// <summary>
/// The built-in gateway for local runs and tests: approves every charge at once and returns a
/// reference derived from the idempotency key, so a retried charge returns the same reference.
/// </summary>
public sealed class FakePaymentGateway : IPaymentGateway
{
    /// <inheritdoc />
    public string Provider => "fake";

    /// <inheritdoc />
    public Task<PaymentResult> ChargeAsync(PaymentRequest request, CancellationToken cancellationToken) =>
        Task.FromResult(new PaymentResult(true, "fake_pi_" + request.IdempotencyKey, null));
}

using Carter;
using Holdfast.Infrastructure.Payments;
using Microsoft.Extensions.Options;

namespace Holdfast.Features.Checkout;

/// <summary>
/// <c>GET /payments/config</c>: what a page needs to take a payment. With the fake gateway, the test
/// cards it understands; with Stripe, the publishable key for Stripe.js's Payment Element, which
/// confirms the PaymentIntent whose <c>client_secret</c> checkout returned.
/// </summary>
public sealed class PaymentConfig : ICarterModule
{
    private static readonly TestCard[] FakeCards =
    [
        new("pm_card_visa", "Visa test card: succeeds"),
        new("pm_card_chargeDeclined", "Declined test card: the booking waits for payment until its deadline"),
    ];

    /// <summary>A test payment method the fake gateway answers.</summary>
    /// <param name="PaymentMethod">Pass as <c>payment_method</c> to checkout or a retry.</param>
    /// <param name="Description">What it does.</param>
    public sealed record TestCard(string PaymentMethod, string Description);

    /// <summary>How to pay here.</summary>
    /// <param name="Provider"><c>fake</c> or <c>stripe</c>.</param>
    /// <param name="PublishableKey">Stripe's publishable key (<c>pk_…</c>) for Stripe.js; null with the fake gateway or when not configured.</param>
    /// <param name="TestCards">The fake gateway's payment methods; empty with Stripe.</param>
    public sealed record Response(string Provider, string? PublishableKey, IReadOnlyList<TestCard> TestCards);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app) =>
        app.MapGet("/payments/config", Handle)
            .WithTags("Payments")
            .WithSummary("How pages take a payment")
            .WithDescription("The provider, Stripe's publishable key when Stripe is configured, or the fake gateway's test cards.");

    internal static Microsoft.AspNetCore.Http.HttpResults.Ok<Response> Handle(IOptions<PaymentOptions> payments, IOptions<StripeOptions> stripe)
    {
        var isStripe = string.Equals(payments.Value.Provider, "stripe", StringComparison.OrdinalIgnoreCase);
        return TypedResults.Ok(isStripe ? new Response("stripe", stripe.Value.PublishableKey, []) : new Response("fake", null, FakeCards));
    }
}

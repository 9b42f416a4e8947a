using System.Text.Json;
using Carter;
using Holdfast.Infrastructure.Http;
using Holdfast.Infrastructure.Payments;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Stripe;
using PaymentIntent = Holdfast.Infrastructure.Payments.PaymentIntent;

namespace Holdfast.Features.Checkout;

/// <summary>
/// <c>POST /payments/stripe/webhook</c>: Stripe's events. The signature is checked on the raw body
/// (<see cref="StripeEvents.Read"/>, Stripe.net's <c>EventUtility</c>); then each event is recorded
/// by id and processed in one transaction (<see cref="PaymentProcessing"/>), so a redelivered or
/// concurrently delivered event changes nothing twice. Handled: <c>payment_intent.succeeded</c>,
/// <c>payment_intent.payment_failed</c>, <c>charge.refunded</c>, <c>refund.created</c>,
/// <c>refund.updated</c>, <c>refund.failed</c>; others are recorded and acknowledged.
/// A signed event that can never be processed (another API version, none, or an object without the
/// fields we need) is recorded and acknowledged with a warning, not refused: Stripe would retry a
/// non-2xx answer for days and each retry would fail the same way (decision 0012).
/// </summary>
public sealed class StripeWebhook : ICarterModule
{
    /// <summary>The acknowledgement Stripe reads.</summary>
    /// <param name="Received">Always true.</param>
    /// <param name="Outcome">What processing did (for logs and tests): a <see cref="PaymentOutcome"/>, <c>Failed</c>,
    /// <c>RefundUpdated</c>, <c>Recorded</c>, <c>AlreadyProcessed</c>, <c>IgnoredApiVersion</c> or <c>Unprocessable</c>.</param>
    public sealed record Response(bool Received, string Outcome);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app) =>
        app.MapPost("/payments/stripe/webhook", HandleAsync)
            .DeclaresProblem(StatusCodes.Status400BadRequest, "The `Stripe-Signature` is missing, wrong or stale, or the body is not a Stripe event; nothing is recorded.")
            .DeclaresProblem(StatusCodes.Status500InternalServerError, "The event could not be applied and was not recorded; Stripe delivers it again.")
            .AcceptsBodyUpTo(512 * 1024) // an event carries a whole object (a PaymentIntent with its charges)
            .WithTags("Payments")
            .WithSummary("Stripe webhook endpoint")
            .WithDescription("200 once recorded (and processed, when it can be); 400 when the Stripe-Signature is missing, wrong or stale (over 5 minutes), " +
                             "or the signed body is not an event with an id and a type.")
            .DisableAntiforgery();

    internal static async Task<Results<Ok<Response>, ProblemHttpResult>> HandleAsync(
        HttpRequest request, PaymentProcessing payments, IOptions<StripeOptions> options, TimeProvider time, ILogger<StripeWebhook> logger, CancellationToken cancellationToken)
    {
        using var reader = new StreamReader(request.Body);
        var body = await reader.ReadToEndAsync(cancellationToken);
        var reading = StripeEvents.Read(body, request.Headers["Stripe-Signature"].FirstOrDefault(), options.Value.WebhookSecrets, time.GetUtcNow(),
            options.Value.WebhookToleranceSeconds);
        if (reading.Check == StripeEventCheck.BadSignature)
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Invalid signature.",
                detail: "The Stripe-Signature header does not match the body with any configured secret, or its timestamp is too old.");
        }

        // Unreadable by Stripe.net, but with an id and a type it can still be recorded and acknowledged.
        var (id, type) = reading.Event is { } read ? (read.Id, read.Type) : IdAndType(body);
        if (string.IsNullOrEmpty(id) || string.IsNullOrEmpty(type))
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Not a Stripe event.",
                detail: reading.Error ?? "The body has no event id or type.");
        }

        var stripeEvent = new ProviderEvent("stripe", id, type, body);
        if (reading.Event is not { } verified)
        {
            return await IgnoreAsync(payments, stripeEvent, "Unprocessable", logger, $"Stripe.net cannot read it: {reading.Error}", cancellationToken);
        }

        if (!StripeEvents.IsPinnedVersion(verified.ApiVersion))
        {
            return await IgnoreAsync(payments, stripeEvent, "IgnoredApiVersion", logger,
                $"it is rendered at API version {verified.ApiVersion ?? "(none)"}, not {StripeEvents.ApiVersion}; set the webhook endpoint to {StripeEvents.ApiVersion}", cancellationToken);
        }

        var data = verified.Data?.Object;
        switch (type)
        {
            case "payment_intent.succeeded" or "payment_intent.payment_failed":
                if (StripeGateway.ReadPaymentIntent(data) is not { } intent)
                {
                    return await IgnoreAsync(payments, stripeEvent, "Unprocessable", logger, "its PaymentIntent has no id or status", cancellationToken);
                }

                return TypedResults.Ok(new Response(true, type == "payment_intent.succeeded"
                    ? (await payments.SucceededAsync("stripe", intent.Id, intent.AmountReceived, cancellationToken, stripeEvent)).ToString()
                    : await FailedAsync(payments, intent, stripeEvent, cancellationToken)));

            case "refund.created" or "refund.updated" or "refund.failed":
                if (StripeGateway.ReadRefund(data) is not { } refund)
                {
                    return await IgnoreAsync(payments, stripeEvent, "Unprocessable", logger, "its Refund has no id or status", cancellationToken);
                }

                await payments.RefundUpdatedAsync(refund.Id, refund.Status, cancellationToken, stripeEvent);
                return TypedResults.Ok(new Response(true, "RefundUpdated"));

            case "charge.refunded":
                // The charge lists its refunds (before API version 2022-11-15 always; since, only when
                // expanded: refund.* events carry them). All are read before any is applied.
                var listed = data is Charge charge ? (charge.Refunds?.Data ?? []).Select(r => StripeGateway.ReadRefund(r)).ToList() : null;
                if (listed is null || listed.Any(r => r is null))
                {
                    return await IgnoreAsync(payments, stripeEvent, "Unprocessable", logger, "it is not a charge, or one of its refunds has no id or status", cancellationToken);
                }

                return TypedResults.Ok(new Response(true, await ChargeRefundedAsync(payments, listed!, stripeEvent, cancellationToken)));

            default:
                return TypedResults.Ok(new Response(true, await payments.RecordOnlyAsync(stripeEvent, cancellationToken) ? "Recorded" : "AlreadyProcessed"));
        }
    }

    // Records an event that can never be processed and acknowledges it, so Stripe stops retrying; the
    // payload stays in payment_event for an operator, and reconciliation asks Stripe about payments.
    private static async Task<Ok<Response>> IgnoreAsync(
        PaymentProcessing payments, ProviderEvent stripeEvent, string outcome, ILogger logger, string why, CancellationToken cancellationToken)
    {
        if (!await payments.RecordOnlyAsync(stripeEvent, cancellationToken))
        {
            return TypedResults.Ok(new Response(true, "AlreadyProcessed"));
        }

        logger.LogWarning("Stripe event {EventId} ({Type}) recorded but not processed: {Why}.", stripeEvent.Id, stripeEvent.Type, why);
        return TypedResults.Ok(new Response(true, outcome));
    }

    // The event's id and type from the raw JSON, for a signed body Stripe.net could not read.
    private static (string? Id, string? Type) IdAndType(string body)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            var root = document.RootElement;
            return root.ValueKind == JsonValueKind.Object
                   && root.TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.String
                   && root.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String
                ? (id.GetString(), type.GetString())
                : (null, null);
        }
        catch (JsonException)
        {
            return (null, null);
        }
    }

    private static async Task<string> FailedAsync(PaymentProcessing payments, PaymentIntent intent, ProviderEvent stripeEvent, CancellationToken cancellationToken)
    {
        await payments.FailedAsync("stripe", intent.Id, intent.Status, intent.LastError, cancellationToken, stripeEvent);
        return "Failed";
    }

    // A charge.refunded event lists the charge's refunds; each updates its own row, all of them in
    // the transaction that records the event, so the event is never marked processed unapplied.
    private static async Task<string> ChargeRefundedAsync(PaymentProcessing payments, List<RefundResult?> refunds, ProviderEvent stripeEvent, CancellationToken cancellationToken) =>
        await payments.RefundsUpdatedAsync([.. refunds.Select(r => (r!.Id, r.Status))], cancellationToken, stripeEvent) ? "RefundUpdated" : "AlreadyProcessed";
}

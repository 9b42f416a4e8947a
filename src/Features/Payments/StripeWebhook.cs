using System.Text.Json;
using Carter;
using Holdfast.Infrastructure.Payments;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Holdfast.Features.Payments;

/// <summary>
/// <c>POST /payments/stripe/webhook</c>: Stripe's events. The signature is checked on the raw body
/// (<see cref="StripeGateway.VerifySignature"/>); then each event is recorded by id and processed in
/// one transaction (<see cref="PaymentProcessing"/>), so a redelivered or concurrently delivered
/// event changes nothing twice. Handled: <c>payment_intent.succeeded</c>, <c>payment_intent.payment_failed</c>,
/// <c>charge.refunded</c>, <c>refund.created</c>, <c>refund.updated</c>, <c>refund.failed</c>; others are recorded and acknowledged.
/// </summary>
public sealed class StripeWebhook : ICarterModule
{
    /// <summary>The acknowledgement Stripe reads.</summary>
    /// <param name="Received">Always true.</param>
    /// <param name="Outcome">What processing did (for logs and tests).</param>
    public sealed record Response(bool Received, string Outcome);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app) =>
        app.MapPost("/payments/stripe/webhook", HandleAsync)
            .WithTags("Payments")
            .WithSummary("Stripe webhook endpoint")
            .WithDescription("200 once recorded and processed; 400 when the Stripe-Signature is missing, wrong or stale (over 5 minutes).")
            .DisableAntiforgery();

    internal static async Task<Results<Ok<Response>, ProblemHttpResult>> HandleAsync(
        HttpRequest request, PaymentProcessing payments, IOptions<StripeOptions> options, TimeProvider time, CancellationToken cancellationToken)
    {
        using var reader = new StreamReader(request.Body);
        var body = await reader.ReadToEndAsync(cancellationToken);
        if (!StripeGateway.VerifySignature(request.Headers["Stripe-Signature"].FirstOrDefault(), body, options.Value.WebhookSecrets, time.GetUtcNow(),
                options.Value.WebhookToleranceSeconds))
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Invalid signature.",
                detail: "The Stripe-Signature header does not match the body with any configured secret, or its timestamp is too old.");
        }

        string id, type;
        JsonElement data;
        PaymentIntent? intent;
        try
        {
            using var document = JsonDocument.Parse(body);
            id = document.RootElement.GetProperty("id").GetString()!;
            type = document.RootElement.GetProperty("type").GetString()!;
            data = document.RootElement.GetProperty("data").GetProperty("object").Clone();
            // Read here, so a malformed PaymentIntent is a 400 like any other malformed event.
            intent = type.StartsWith("payment_intent.", StringComparison.Ordinal) ? StripeGateway.ReadPaymentIntent(data) : null;
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Not a Stripe event.", detail: ex.Message);
        }

        var stripeEvent = new ProviderEvent("stripe", id, type, body);
        var outcome = type switch
        {
            "payment_intent.succeeded" => (await payments.SucceededAsync("stripe", intent!.Id, intent.AmountReceived, cancellationToken, stripeEvent)).ToString(),
            "payment_intent.payment_failed" => await FailedAsync(payments, intent!, stripeEvent, cancellationToken),
            "charge.refunded" => await ChargeRefundedAsync(payments, data, stripeEvent, cancellationToken),
            "refund.created" or "refund.updated" or "refund.failed" => await RefundAsync(payments, data, stripeEvent, cancellationToken),
            _ => await payments.RecordOnlyAsync(stripeEvent, cancellationToken) ? "Recorded" : "AlreadyProcessed",
        };
        return TypedResults.Ok(new Response(true, outcome));
    }

    private static async Task<string> FailedAsync(PaymentProcessing payments, PaymentIntent intent, ProviderEvent stripeEvent, CancellationToken cancellationToken)
    {
        await payments.FailedAsync("stripe", intent.Id, intent.Status, intent.LastError, cancellationToken, stripeEvent);
        return "Failed";
    }

    private static async Task<string> RefundAsync(PaymentProcessing payments, JsonElement refund, ProviderEvent stripeEvent, CancellationToken cancellationToken)
    {
        await payments.RefundUpdatedAsync(refund.GetProperty("id").GetString()!, refund.GetProperty("status").GetString()!, cancellationToken, stripeEvent);
        return "RefundUpdated";
    }

    // A charge.refunded event lists the charge's refunds; each updates its own row.
    private static async Task<string> ChargeRefundedAsync(PaymentProcessing payments, JsonElement charge, ProviderEvent stripeEvent, CancellationToken cancellationToken)
    {
        if (!await payments.RecordOnlyAsync(stripeEvent, cancellationToken))
        {
            return "AlreadyProcessed";
        }

        if (charge.TryGetProperty("refunds", out var refunds) && refunds.TryGetProperty("data", out var list))
        {
            foreach (var refund in list.EnumerateArray())
            {
                await payments.RefundUpdatedAsync(refund.GetProperty("id").GetString()!, refund.GetProperty("status").GetString()!, cancellationToken);
            }
        }

        return "RefundUpdated";
    }
}

using System.ComponentModel.DataAnnotations;
using System.Net;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;
using Stripe;

namespace Holdfast.Infrastructure.Payments;

/// <summary>Settings under <c>Payments:Stripe</c> in configuration.</summary>
public sealed class StripeOptions
{
    /// <summary>The API's base address (default https://api.stripe.com; tests point it at a local fake).</summary>
    [Required, RegularExpression("https?://.+", ErrorMessage = "{0} must be an absolute http or https URL.")]
    public string BaseUrl { get; set; } = "https://api.stripe.com";

    /// <summary>Secret API key (<c>sk_test_…</c> or <c>sk_live_…</c>).</summary>
    public string? SecretKey { get; set; }

    /// <summary>
    /// Publishable key (<c>pk_test_…</c> or <c>pk_live_…</c>): public by design, handed to pages for
    /// Stripe.js's Payment Element (https://docs.stripe.com/payments/payment-element).
    /// </summary>
    [RegularExpression("pk_(test|live)_[A-Za-z0-9]+", ErrorMessage = "{0} must be a Stripe publishable key (pk_test_… or pk_live_…).")]
    public string? PublishableKey { get; set; }

    /// <summary>
    /// Webhook signing secrets (<c>whsec_…</c>). More than one during a rotation: a signature made with
    /// any of them is accepted.
    /// </summary>
    public string[] WebhookSecrets { get; set; } = [];

    /// <summary>Seconds a webhook's timestamp may differ from now (default 300, Stripe's recommendation).</summary>
    [Range(1, 3600)]
    public int WebhookToleranceSeconds { get; set; } = 300;

    /// <summary>Seconds one HTTP request to Stripe may take before it is given up and retried (default 30).</summary>
    [Range(1, 300)]
    public int TimeoutSeconds { get; set; } = 30;
}

/// <summary>
/// The <see cref="IPaymentGateway"/> on Stripe.net (https://docs.stripe.com/api): PaymentIntents
/// create, retrieve and cancel, and Refunds create. Stripe.net sends over the app's
/// <see cref="HttpClient"/> (from the HTTP client factory, so the timeout is
/// <see cref="StripeOptions.TimeoutSeconds"/>) and pins its own API version,
/// <see cref="StripeConfiguration.ApiVersion"/> (decision 0012). Every POST carries this app's
/// <c>Idempotency-Key</c>, so Polly's retries (network errors, timeouts, 429, 5xx, or
/// <c>Stripe-Should-Retry: true</c>, with exponential backoff and jitter) never charge twice;
/// Stripe.net's own retries are off, since they skip 429 and cannot be cancelled. Amounts are minor
/// units, which is what Stripe calls the smallest currency unit (yen for JPY).
/// </summary>
public sealed class StripeGateway : IPaymentGateway
{
    private readonly StripeClient? client;
    private readonly ILogger<StripeGateway> logger;

    // Stateless and thread-safe: one pipeline serves every gateway instance.
    private static readonly ResiliencePipeline Retry = new ResiliencePipelineBuilder()
        .AddRetry(new RetryStrategyOptions
        {
            MaxRetryAttempts = 3,
            Delay = TimeSpan.FromMilliseconds(250),
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception switch
            {
                StripeException ex => IsTransient(ex),
                HttpRequestException => true,
                // HttpClient's timeout, not our caller giving up.
                OperationCanceledException => !args.Context.CancellationToken.IsCancellationRequested,
                _ => false,
            }),
        })
        .Build();

    /// <summary>Creates the gateway; <paramref name="http"/> comes from the HTTP client factory.</summary>
    public StripeGateway(HttpClient http, IOptions<StripeOptions> options, ILogger<StripeGateway> logger)
    {
        this.logger = logger;
        var settings = options.Value;
        if (!string.IsNullOrWhiteSpace(settings.SecretKey))
        {
            client = new StripeClient(settings.SecretKey,
                httpClient: new SystemNetHttpClient(http, maxNetworkRetries: 0, enableTelemetry: false),
                apiBase: settings.BaseUrl.TrimEnd('/'));
        }
    }

    /// <inheritdoc />
    public string Provider => "stripe";

    /// <inheritdoc />
    public async Task<PaymentIntent> CreatePaymentIntentAsync(PaymentIntentRequest request, CancellationToken cancellationToken)
    {
        var create = new PaymentIntentCreateOptions
        {
            Amount = request.AmountMinor,
            Currency = request.Currency.ToLowerInvariant(),
            Description = request.Description,
            Metadata = new() { ["booking_id"] = request.BookingId.ToString(System.Globalization.CultureInfo.InvariantCulture) },
            AutomaticPaymentMethods = new() { Enabled = true },
        };
        if (request.PaymentMethod is { } method)
        {
            // Confirm on the server with a given method; no redirect-based methods, so no return_url is needed.
            create.PaymentMethod = method;
            create.Confirm = true;
            create.AutomaticPaymentMethods.AllowRedirects = "never";
        }

        try
        {
            return ToPaymentIntent(await SendAsync(
                (stripe, token) => stripe.V1.PaymentIntents.CreateAsync(create, new RequestOptions { IdempotencyKey = request.IdempotencyKey }, token), cancellationToken));
        }
        catch (PaymentProviderException ex) when (ex.InnerException is StripeException { HttpStatusCode: HttpStatusCode.PaymentRequired, StripeError.PaymentIntent: { } declined } refusal)
        {
            // A declined card: Stripe answers 402 with the PaymentIntent inside the error object.
            return ToPaymentIntent(declined) with { AmountReceived = 0, LastError = refusal.StripeError.Message ?? "Your card was declined." };
        }
    }

    /// <inheritdoc />
    public async Task<PaymentIntent> RetrievePaymentIntentAsync(string id, CancellationToken cancellationToken) =>
        ToPaymentIntent(await SendAsync((stripe, token) => stripe.V1.PaymentIntents.GetAsync(id, cancellationToken: token), cancellationToken));

    /// <inheritdoc />
    public async Task CancelPaymentIntentAsync(string id, string idempotencyKey, CancellationToken cancellationToken)
    {
        try
        {
            await SendAsync((stripe, token) => stripe.V1.PaymentIntents.CancelAsync(id, null, new RequestOptions { IdempotencyKey = idempotencyKey }, token), cancellationToken);
        }
        catch (PaymentProviderException ex) when (ex.Code == "payment_intent_unexpected_state")
        {
            // Already canceled or succeeded: nothing left to cancel.
        }
    }

    /// <inheritdoc />
    public async Task<RefundResult> CreateRefundAsync(string paymentIntentId, long amountMinor, string idempotencyKey, CancellationToken cancellationToken)
    {
        var refund = await SendAsync((stripe, token) => stripe.V1.Refunds.CreateAsync(
            new RefundCreateOptions { PaymentIntent = paymentIntentId, Amount = amountMinor }, new RequestOptions { IdempotencyKey = idempotencyKey }, token), cancellationToken);
        return ReadRefund(refund) ?? throw Unreadable("Refund");
    }

    /// <summary>
    /// Reads a Stripe.net PaymentIntent, as in API responses and webhook events' <c>data.object</c>
    /// (https://docs.stripe.com/api/payment_intents/object). Null when it lacks an <c>id</c> or
    /// <c>status</c>, or is not a PaymentIntent at all.
    /// </summary>
    public static PaymentIntent? ReadPaymentIntent(IHasObject? intent) =>
        intent is Stripe.PaymentIntent { Id: { Length: > 0 } id, Status: { Length: > 0 } status } pi
            ? new PaymentIntent(id, status, pi.ClientSecret, pi.AmountReceived, pi.LastPaymentError?.Message)
            : null;

    /// <summary>
    /// Reads a Stripe.net Refund (https://docs.stripe.com/api/refunds/object). Null when it lacks an
    /// <c>id</c> or <c>status</c>, or is not a Refund at all.
    /// </summary>
    public static RefundResult? ReadRefund(IHasObject? refund) =>
        refund is Refund { Id: { Length: > 0 } id, Status: { Length: > 0 } status } ? new RefundResult(id, status) : null;

    private static PaymentIntent ToPaymentIntent(Stripe.PaymentIntent intent) => ReadPaymentIntent(intent) ?? throw Unreadable("PaymentIntent");

    private static PaymentProviderException Unreadable(string what) =>
        new($"Stripe answered a {what} without an id or status.", 200, "api_error", null, transient: false);

    // 429 (https://docs.stripe.com/rate-limits), 5xx, or Stripe saying a retry may help.
    private static bool IsTransient(StripeException ex) =>
        ex.HttpStatusCode == HttpStatusCode.TooManyRequests || (int)ex.HttpStatusCode >= 500
        || (ex.StripeResponse?.Headers is { } headers && headers.TryGetValues("Stripe-Should-Retry", out var retry) && retry.Contains("true"));

    // Runs one call with retries and turns what Stripe.net throws into PaymentProviderException. The
    // messages are what Stripe's error object says, or a fixed sentence: never an exception's text,
    // which names addresses (Connection refused (127.0.0.1:9)) and ends up in problem details.
    private async Task<T> SendAsync<T>(Func<StripeClient, CancellationToken, Task<T>> call, CancellationToken cancellationToken)
    {
        var stripe = client ?? throw new InvalidOperationException("Payments:Stripe:SecretKey is required when Payments:Provider is stripe.");
        try
        {
            return await Retry.ExecuteAsync(async token => await call(stripe, token), cancellationToken);
        }
        catch (StripeException ex)
        {
            var status = (int)ex.HttpStatusCode;
            var error = ex.StripeError;
            if (error is null)
            {
                logger.LogWarning(ex, "Stripe answered {Status} without an error object.", status);
            }

            // Stripe's error object (https://docs.stripe.com/api/errors): type, code, decline_code, message.
            throw new PaymentProviderException(error?.Message ?? $"Stripe answered {status}.", status, error?.Type, error?.Code, IsTransient(ex), ex);
        }
        catch (HttpRequestException ex)
        {
            logger.LogWarning(ex, "Stripe could not be reached.");
            throw new PaymentProviderException("The payment provider could not be reached.", 0, "api_connection_error", null, transient: true, ex);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            logger.LogWarning(ex, "Stripe did not answer within the HTTP client's timeout.");
            throw new PaymentProviderException("The payment provider did not answer in time.", 0, "api_connection_error", null, transient: true, ex);
        }
    }
}

using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;

namespace Holdfast.Infrastructure.Payments;

/// <summary>Settings under <c>Payments:Stripe</c> in configuration.</summary>
public sealed class StripeOptions
{
    /// <summary>The API's base address (default https://api.stripe.com; tests point it at a local fake).</summary>
    public string BaseUrl { get; set; } = "https://api.stripe.com";

    /// <summary>Secret API key (<c>sk_test_…</c> or <c>sk_live_…</c>).</summary>
    public string? SecretKey { get; set; }

    /// <summary>
    /// Webhook signing secrets (<c>whsec_…</c>). More than one during a rotation: a signature made with
    /// any of them is accepted.
    /// </summary>
    public string[] WebhookSecrets { get; set; } = [];

    /// <summary>The API version every request pins (<c>Stripe-Version</c>), so Stripe never changes a response under us.</summary>
    public string ApiVersion { get; set; } = "2024-06-20";

    /// <summary>Seconds a webhook's timestamp may differ from now (default 300, Stripe's recommendation).</summary>
    public int WebhookToleranceSeconds { get; set; } = 300;
}

/// <summary>
/// A thin typed Stripe client over <see cref="HttpClient"/> for the calls Holdfast makes
/// (Stripe.net does not restore here; GUIDE §3): PaymentIntents create, retrieve and cancel, and
/// Refunds create (https://docs.stripe.com/api). Bodies are form-encoded as Stripe expects; every
/// POST carries an <c>Idempotency-Key</c> so Polly's retries (network errors, 429, 5xx, or
/// <c>Stripe-Should-Retry: true</c>, with exponential backoff and jitter) never charge twice; every
/// request pins <c>Stripe-Version</c>. Amounts are minor units, which is what Stripe calls the
/// smallest currency unit (yen for JPY).
/// </summary>
public sealed class StripeGateway : IPaymentGateway
{
    private readonly HttpClient http;
    private readonly StripeOptions options;

    // Stateless and thread-safe: one pipeline serves every client instance.
    private static readonly ResiliencePipeline<HttpResponseMessage> Retry = new ResiliencePipelineBuilder<HttpResponseMessage>()
        .AddRetry(new RetryStrategyOptions<HttpResponseMessage>
        {
            MaxRetryAttempts = 3,
            Delay = TimeSpan.FromMilliseconds(250),
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            ShouldHandle = new PredicateBuilder<HttpResponseMessage>()
                .Handle<HttpRequestException>()
                .Handle<TaskCanceledException>(ex => !ex.CancellationToken.IsCancellationRequested)
                .HandleResult(r => r.StatusCode == HttpStatusCode.TooManyRequests || (int)r.StatusCode >= 500
                                   || (r.Headers.TryGetValues("Stripe-Should-Retry", out var v) && v.Contains("true"))),
        })
        .Build();

    /// <summary>Creates the client; <paramref name="http"/> comes from the HTTP client factory.</summary>
    public StripeGateway(HttpClient http, IOptions<StripeOptions> options)
    {
        this.http = http;
        this.options = options.Value;
    }

    /// <inheritdoc />
    public string Provider => "stripe";

    /// <inheritdoc />
    public async Task<PaymentIntent> CreatePaymentIntentAsync(PaymentIntentRequest request, CancellationToken cancellationToken)
    {
        var form = new List<KeyValuePair<string, string>>
        {
            new("amount", request.AmountMinor.ToString(CultureInfo.InvariantCulture)),
            new("currency", request.Currency.ToLowerInvariant()),
            new("description", request.Description),
            new("metadata[booking_id]", request.BookingId.ToString(CultureInfo.InvariantCulture)),
            new("automatic_payment_methods[enabled]", "true"),
        };
        if (request.PaymentMethod is { } method)
        {
            // Confirm on the server with a given method; no redirect-based methods, so no return_url is needed.
            form.Add(new("payment_method", method));
            form.Add(new("confirm", "true"));
            form.Add(new("automatic_payment_methods[allow_redirects]", "never"));
        }

        using var document = await SendAsync(HttpMethod.Post, "/v1/payment_intents", form, request.IdempotencyKey, cancellationToken, declineIsResult: true);
        var root = document.RootElement;
        if (root.TryGetProperty("error", out var error))
        {
            // A declined card: Stripe answers 402 with the PaymentIntent inside the error object.
            var intent = error.GetProperty("payment_intent");
            return new PaymentIntent(intent.GetProperty("id").GetString()!, intent.GetProperty("status").GetString()!,
                intent.TryGetProperty("client_secret", out var secret) ? secret.GetString() : null, 0,
                error.TryGetProperty("message", out var message) ? message.GetString() : "Your card was declined.");
        }

        return ReadPaymentIntent(root);
    }

    /// <inheritdoc />
    public async Task<PaymentIntent> RetrievePaymentIntentAsync(string id, CancellationToken cancellationToken)
    {
        using var document = await SendAsync(HttpMethod.Get, $"/v1/payment_intents/{Uri.EscapeDataString(id)}", null, null, cancellationToken);
        return ReadPaymentIntent(document.RootElement);
    }

    /// <inheritdoc />
    public async Task CancelPaymentIntentAsync(string id, string idempotencyKey, CancellationToken cancellationToken)
    {
        try
        {
            using var _ = await SendAsync(HttpMethod.Post, $"/v1/payment_intents/{Uri.EscapeDataString(id)}/cancel", [], idempotencyKey, cancellationToken);
        }
        catch (PaymentProviderException ex) when (ex.Code == "payment_intent_unexpected_state")
        {
            // Already canceled or succeeded: nothing left to cancel.
        }
    }

    /// <inheritdoc />
    public async Task<RefundResult> CreateRefundAsync(string paymentIntentId, long amountMinor, string idempotencyKey, CancellationToken cancellationToken)
    {
        using var document = await SendAsync(HttpMethod.Post, "/v1/refunds",
            [new("payment_intent", paymentIntentId), new("amount", amountMinor.ToString(CultureInfo.InvariantCulture))], idempotencyKey, cancellationToken);
        return new RefundResult(document.RootElement.GetProperty("id").GetString()!, document.RootElement.GetProperty("status").GetString()!);
    }

    /// <summary>
    /// Checks a webhook's <c>Stripe-Signature</c> header against the raw body, as Stripe documents
    /// (https://docs.stripe.com/webhooks#verify-manually): HMAC-SHA256 of <c>"{t}.{body}"</c> with the
    /// signing secret, compared in constant time with every <c>v1</c> value, with <c>t</c> within the
    /// tolerance of <paramref name="now"/>. Any configured secret may match (rotation).
    /// </summary>
    public static bool VerifySignature(string? header, string body, IReadOnlyList<string> secrets, DateTimeOffset now, int toleranceSeconds)
    {
        if (string.IsNullOrEmpty(header) || secrets.Count == 0)
        {
            return false;
        }

        long? timestamp = null;
        var signatures = new List<byte[]>();
        foreach (var part in header.Split(','))
        {
            var pair = part.Split('=', 2);
            if (pair.Length != 2)
            {
                continue;
            }

            if (pair[0].Trim() == "t" && long.TryParse(pair[1], NumberStyles.None, CultureInfo.InvariantCulture, out var t))
            {
                timestamp = t;
            }
            else if (pair[0].Trim() == "v1" && pair[1].Length == 64)
            {
                try
                {
                    signatures.Add(Convert.FromHexString(pair[1]));
                }
                catch (FormatException)
                {
                    // Not hex: cannot match.
                }
            }
        }

        if (timestamp is null || signatures.Count == 0 || Math.Abs(now.ToUnixTimeSeconds() - timestamp.Value) > toleranceSeconds)
        {
            return false;
        }

        var signedPayload = Encoding.UTF8.GetBytes($"{timestamp}.{body}");
        return secrets.Any(secret =>
        {
            var expected = HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), signedPayload);
            return signatures.Any(s => CryptographicOperations.FixedTimeEquals(s, expected));
        });
    }

    /// <summary>
    /// Reads a PaymentIntent object as Stripe sends it, in API responses and in webhook events'
    /// <c>data.object</c> (https://docs.stripe.com/api/payment_intents/object). Missing optional
    /// fields read as null or 0; a missing <c>id</c> or <c>status</c> throws <see cref="KeyNotFoundException"/>.
    /// </summary>
    public static PaymentIntent ReadPaymentIntent(JsonElement intent) => new(
        intent.GetProperty("id").GetString()!,
        intent.GetProperty("status").GetString()!,
        intent.TryGetProperty("client_secret", out var secret) ? secret.GetString() : null,
        intent.TryGetProperty("amount_received", out var received) ? received.GetInt64() : 0,
        intent.TryGetProperty("last_payment_error", out var error) && error.ValueKind == JsonValueKind.Object && error.TryGetProperty("message", out var message)
            ? message.GetString() : null);

    private async Task<JsonDocument> SendAsync(
        HttpMethod method, string path, List<KeyValuePair<string, string>>? form, string? idempotencyKey, CancellationToken cancellationToken, bool declineIsResult = false)
    {
        if (string.IsNullOrEmpty(options.SecretKey))
        {
            throw new InvalidOperationException("Payments:Stripe:SecretKey is required when Payments:Provider is stripe.");
        }

        HttpResponseMessage response;
        try
        {
            response = await Retry.ExecuteAsync(async token =>
            {
                using var request = new HttpRequestMessage(method, new Uri(new Uri(options.BaseUrl), path));
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", options.SecretKey);
                request.Headers.Add("Stripe-Version", options.ApiVersion);
                if (idempotencyKey is not null)
                {
                    request.Headers.Add("Idempotency-Key", idempotencyKey);
                }

                if (form is not null)
                {
                    request.Content = new FormUrlEncodedContent(form);
                }

                return await http.SendAsync(request, token);
            }, cancellationToken);
        }
        catch (HttpRequestException ex)
        {
            throw new PaymentProviderException($"Stripe could not be reached: {ex.Message}", 0, "api_connection_error", null, transient: true, ex);
        }

        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(cancellationToken);
            var document = JsonDocument.Parse(string.IsNullOrEmpty(text) ? "{}" : text);
            if (response.IsSuccessStatusCode)
            {
                return document;
            }

            // Stripe's error object: {"error": {"type", "code", "decline_code", "message", "param", "payment_intent"}}.
            var error = document.RootElement.TryGetProperty("error", out var e) ? e : default;
            string? Field(string name) => error.ValueKind == JsonValueKind.Object && error.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
            if (declineIsResult && response.StatusCode == HttpStatusCode.PaymentRequired && error.ValueKind == JsonValueKind.Object && error.TryGetProperty("payment_intent", out _))
            {
                return document;
            }

            var status = (int)response.StatusCode;
            var failure = new PaymentProviderException(Field("message") ?? $"Stripe answered {status}.", status, Field("type"), Field("code"),
                transient: status == 429 || status >= 500);
            document.Dispose();
            throw failure;
        }
    }
}

using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Holdfast.Tests.Infrastructure;

/// <summary>
/// A local stand-in for api.stripe.com, on Kestrel at a free loopback port: PaymentIntents create,
/// retrieve and cancel, and Refunds create, form-encoded, with Stripe's error objects and failures
/// on demand. It also builds signed webhook events.
/// Idempotent requests behave as https://docs.stripe.com/api/idempotent_requests says: the first
/// result for a key (status and body) is saved and replayed for every later request with that key,
/// marked <c>Idempotent-Replayed: true</c>; the same key with other parameters is a 400
/// <c>idempotency_error</c>. Injected failures (<see cref="FailNext"/>, <see cref="HangNext"/>) stand
/// for requests that never reached the endpoint, so nothing is saved for them.
/// </summary>
public sealed class FakeStripe : IAsyncDisposable
{
    public const string SecretKey = "sk_test_holdfast";

    /// <summary>
    /// The API version Stripe renders events at for an endpoint set to Stripe.net 53's version
    /// (https://docs.stripe.com/webhooks/versioning); webhook events carry it as <c>api_version</c>.
    /// </summary>
    public const string ApiVersion = "2026-10-28.endive";

    private readonly ConcurrentDictionary<string, JsonObject> intents = new();
    private readonly ConcurrentDictionary<string, (string Request, int Status, string Body)> replies = new();
    private readonly ConcurrentDictionary<string, byte> inFlight = new();
    private WebApplication? app;
    private int failNext;
    private int failStatus = 500;
    private int hangNext;

    public sealed record Request(string Method, string Path, string? IdempotencyKey, string? Version, IReadOnlyDictionary<string, string> Form);

    public ConcurrentQueue<Request> Requests { get; } = new();

    public string BaseUrl { get; private set; } = "";

    /// <summary>
    /// Answer the next <paramref name="count"/> requests with <paramref name="status"/>: 500
    /// (<c>api_error</c>), 429 (<c>rate_limit</c>, https://docs.stripe.com/rate-limits), or any
    /// other status with an HTML page, as a proxy in between would.
    /// </summary>
    public void FailNext(int count, int status = 500)
    {
        failStatus = status;
        Interlocked.Exchange(ref failNext, count);
    }

    /// <summary>Never answer the next <paramref name="count"/> requests: each waits until its client gives up.</summary>
    public void HangNext(int count) => Interlocked.Exchange(ref hangNext, count);

    public async Task StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        app = builder.Build();
        app.Urls.Add("http://127.0.0.1:0");
        app.MapPost("/v1/payment_intents", http => Handle(http, form => CreateIntent(form)));
        app.MapGet("/v1/payment_intents/{id}", http => Handle(http, _ => intents.TryGetValue((string)http.Request.RouteValues["id"]!, out var pi) ? (200, pi) : NotFound()));
        app.MapPost("/v1/payment_intents/{id}/cancel", http => Handle(http, _ => Cancel((string)http.Request.RouteValues["id"]!)));
        app.MapPost("/v1/refunds", http => Handle(http, form => (200, new JsonObject
        {
            ["id"] = "re_" + Guid.NewGuid().ToString("N")[..16],
            ["object"] = "refund",
            ["status"] = "pending",
            ["amount"] = long.Parse(form["amount"], System.Globalization.CultureInfo.InvariantCulture),
            ["payment_intent"] = form["payment_intent"],
        })));
        await app.StartAsync();
        BaseUrl = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single().TrimEnd('/');
    }

    /// <summary>
    /// What a browser's confirmation would do: the PaymentIntent succeeds. Returns the
    /// <c>payment_intent.succeeded</c> event, rendered at <paramref name="apiVersion"/>.
    /// </summary>
    public string Succeed(string paymentIntentId, string? apiVersion = ApiVersion)
    {
        var intent = intents[paymentIntentId];
        intent["status"] = "succeeded";
        intent["amount_received"] = intent["amount"]!.GetValue<long>();
        return Event("payment_intent.succeeded", intent, apiVersion);
    }

    /// <summary>What a declined card would do. Returns the <c>payment_intent.payment_failed</c> event.</summary>
    public string Decline(string paymentIntentId, string message)
    {
        var intent = intents[paymentIntentId];
        intent["status"] = "requires_payment_method";
        intent["last_payment_error"] = new JsonObject { ["type"] = "card_error", ["code"] = "card_declined", ["message"] = message };
        return Event("payment_intent.payment_failed", intent);
    }

    /// <summary>
    /// A webhook event around <paramref name="data"/> with a new event id, shaped as
    /// https://docs.stripe.com/api/events/object: rendered at <paramref name="apiVersion"/> (none: no
    /// <c>api_version</c> field at all).
    /// </summary>
    public static string Event(string type, JsonObject data, string? apiVersion = ApiVersion)
    {
        var stripeEvent = new JsonObject
        {
            ["id"] = "evt_" + Guid.NewGuid().ToString("N")[..20],
            ["object"] = "event",
            ["created"] = DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
            ["livemode"] = false,
            ["type"] = type,
            ["data"] = new JsonObject { ["object"] = JsonNode.Parse(data.ToJsonString()) },
        };
        if (apiVersion is not null)
        {
            stripeEvent["api_version"] = apiVersion;
        }

        return stripeEvent.ToJsonString();
    }

    /// <summary>A <c>Stripe-Signature</c> header for <paramref name="body"/> as Stripe computes it.</summary>
    public static string Sign(string body, string secret, DateTimeOffset at)
    {
        var t = at.ToUnixTimeSeconds();
        var v1 = Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes($"{t}.{body}")));
        return $"t={t},v1={v1},v0=0000";
    }

    private async Task Handle(HttpContext http, Func<IReadOnlyDictionary<string, string>, (int Status, JsonObject Body)> respond)
    {
        var form = http.Request.HasFormContentType
            ? (await http.Request.ReadFormAsync()).ToDictionary(f => f.Key, f => f.Value.ToString())
            : new Dictionary<string, string>();
        var key = http.Request.Headers["Idempotency-Key"].FirstOrDefault();
        Requests.Enqueue(new Request(http.Request.Method, http.Request.Path, key, http.Request.Headers["Stripe-Version"].FirstOrDefault(), form));
        if (Interlocked.Decrement(ref hangNext) >= 0)
        {
            await Task.Delay(Timeout.Infinite, http.RequestAborted).ContinueWith(_ => { }, TaskScheduler.Default);
            return;
        }

        // What the key is bound to: the endpoint and its parameters.
        var signature = $"{http.Request.Method} {http.Request.Path} " + string.Join("&", form.OrderBy(f => f.Key, StringComparer.Ordinal).Select(f => $"{f.Key}={f.Value}"));
        (int Status, string Body) reply;
        if (http.Request.Headers.Authorization != $"Bearer {SecretKey}")
        {
            reply = (401, Error("invalid_request_error", null, "Invalid API Key provided.").ToJsonString());
        }
        else if (Interlocked.Decrement(ref failNext) >= 0)
        {
            reply = failStatus switch
            {
                429 => (429, Error("invalid_request_error", "rate_limit", "Request rate limit exceeded.").ToJsonString()),
                500 => (500, Error("api_error", null, "Something went wrong on Stripe's end.").ToJsonString()),
                // What a proxy between us and Stripe answers: a page, not Stripe's error object.
                _ => (failStatus, $"<html><body><h1>{failStatus} Bad Gateway</h1></body></html>"),
            };
        }
        else if (key is not null && replies.TryGetValue(key, out var stored))
        {
            if (stored.Request == signature)
            {
                reply = (stored.Status, stored.Body);
                http.Response.Headers["Idempotent-Replayed"] = "true";
            }
            else
            {
                reply = (400, Error("idempotency_error", null,
                    $"Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{key}' if you meant to execute a different request.").ToJsonString());
            }
        }
        else if (key is not null && !inFlight.TryAdd(key, 0))
        {
            reply = (409, Error("invalid_request_error", "idempotency_key_in_use",
                "There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice, and the other request is still going through).").ToJsonString());
        }
        else
        {
            try
            {
                var (status, body) = respond(form);
                reply = (status, body.ToJsonString());
                if (key is not null)
                {
                    replies[key] = (signature, reply.Status, reply.Body);
                }
            }
            finally
            {
                if (key is not null)
                {
                    inFlight.TryRemove(key, out _);
                }
            }
        }

        http.Response.StatusCode = reply.Status;
        http.Response.ContentType = reply.Body.StartsWith('<') ? "text/html" : "application/json";
        await http.Response.WriteAsync(reply.Body);
    }

    private (int, JsonObject) CreateIntent(IReadOnlyDictionary<string, string> form)
    {
        var id = "pi_" + Guid.NewGuid().ToString("N")[..20];
        var method = form.GetValueOrDefault("payment_method");
        if (method is not null && !method.StartsWith("pm_card_", StringComparison.Ordinal))
        {
            return (400, Error("invalid_request_error", "resource_missing", $"No such PaymentMethod: '{method}'"));
        }

        var intent = new JsonObject
        {
            ["id"] = id,
            ["object"] = "payment_intent",
            ["amount"] = long.Parse(form["amount"], System.Globalization.CultureInfo.InvariantCulture),
            ["currency"] = form["currency"],
            ["client_secret"] = id + "_secret_x",
            ["amount_received"] = 0,
            ["status"] = "requires_payment_method",
            ["metadata"] = new JsonObject { ["booking_id"] = form.GetValueOrDefault("metadata[booking_id]") },
        };
        intents[id] = intent;
        if (method == "pm_card_visa")
        {
            intent["status"] = "succeeded";
            intent["amount_received"] = intent["amount"]!.GetValue<long>();
        }
        else if (method == "pm_card_chargeDeclined")
        {
            intent["last_payment_error"] = new JsonObject { ["message"] = "Your card was declined.", ["code"] = "card_declined" };
            var error = Error("card_error", "card_declined", "Your card was declined.");
            error["error"]!["payment_intent"] = JsonNode.Parse(intent.ToJsonString());
            return (402, error);
        }

        return (200, intent);
    }

    private (int, JsonObject) Cancel(string id)
    {
        if (!intents.TryGetValue(id, out var intent))
        {
            return NotFound();
        }

        if (intent["status"]!.GetValue<string>() is "succeeded" or "canceled")
        {
            return (400, Error("invalid_request_error", "payment_intent_unexpected_state", "This PaymentIntent's status is final."));
        }

        intent["status"] = "canceled";
        return (200, intent);
    }

    private static (int, JsonObject) NotFound() => (404, Error("invalid_request_error", "resource_missing", "No such payment_intent."));

    private static JsonObject Error(string type, string? code, string message) =>
        new() { ["error"] = new JsonObject { ["type"] = type, ["code"] = code, ["message"] = message } };

    public async ValueTask DisposeAsync()
    {
        if (app is not null)
        {
            await app.DisposeAsync();
        }
    }
}

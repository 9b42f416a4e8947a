using System.ComponentModel.DataAnnotations;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json;
using Holdfast.Infrastructure.Jobs;
using Lib.Net.Http.WebPush;
using Lib.Net.Http.WebPush.Authentication;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;

namespace Holdfast.Infrastructure.WebPush;

/// <summary>Settings under <c>WebPush</c> in configuration.</summary>
public sealed class WebPushOptions : IValidatableObject
{
    /// <summary>VAPID public key: an uncompressed P-256 point, base64url. With <see cref="PrivateKey"/>; required outside Development.</summary>
    public string? PublicKey { get; set; }

    /// <summary>VAPID private key: the raw P-256 scalar, base64url.</summary>
    public string? PrivateKey { get; set; }

    /// <summary>The VAPID <c>sub</c> claim: a mailto: or https: contact for the push service's operators.</summary>
    [Required, RegularExpression("(mailto|https):.+", ErrorMessage = "{0} must be a mailto: or https: URI.")]
    public string Subject { get; set; } = "mailto:ops@holdfast.example";

    /// <summary>Development only: where a generated key pair is kept when none is configured (git-ignored).</summary>
    [Required]
    public string KeyFile { get; set; } = ".data/vapid-keys.json";

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        // One key without the other would fall back to a generated pair in Development and fail elsewhere.
        if (string.IsNullOrEmpty(PublicKey) != string.IsNullOrEmpty(PrivateKey))
        {
            yield return new ValidationResult("must be set together or not at all.", [nameof(PublicKey), nameof(PrivateKey)]);
        }
    }
}

/// <summary>The outcome of one push.</summary>
public enum PushOutcome
{
    /// <summary>The push service accepted it (2xx, normally 201).</summary>
    Delivered,

    /// <summary>The subscription no longer exists (404 or 410): delete it.</summary>
    Gone,

    /// <summary>Try again later (429 or 5xx).</summary>
    Retry,

    /// <summary>Refused for good (another 4xx, e.g. 413 payload too large).</summary>
    Rejected,
}

/// <summary>
/// Sends Web Push messages (RFC 8030) with Lib.Net.Http.WebPush: it encrypts (RFC 8291, aes128gcm)
/// and builds the request. Where it differs from the RFCs we correct it (decision 0013): the VAPID
/// token is re-signed for the push resource's whole origin, port included (RFC 8292 §2; the library
/// drops a non-default port), <c>Urgency: normal</c> is sent rather than left out, a payload that
/// would not fit one 4096-octet record is refused instead of split (RFC 8291 §4), and a 429 is
/// handed to the job engine's backoff instead of being slept on inside the job.
/// </summary>
public sealed class WebPushSender(IHttpMessageHandlerFactory handlers, VapidKeys vapid, IOptions<WebPushOptions> options)
{
    /// <summary>The named HTTP client (<see cref="IHttpMessageHandlerFactory"/>) whose handler pool push requests use.</summary>
    public const string HttpClientName = "WebPush";

    /// <summary>
    /// The largest payload, in octets: one record of 4096 (the body browsers accept) less the 86-octet
    /// header (salt 16, rs 4, idlen 1, key 65), the 16-octet tag and the 1-octet delimiter (RFC 8291 §4).
    /// </summary>
    public const int MaxPayloadLength = 4096 - 86 - 16 - 1;

    /// <summary>How long one request to a push service may take before the attempt fails (and is retried).</summary>
    public static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(15);

    /// <summary>The VAPID public key (base64url) browsers pass to <c>pushManager.subscribe</c> as <c>applicationServerKey</c>.</summary>
    public string PublicKey => vapid.PublicKey;

    /// <summary>Encrypts <paramref name="payload"/> (JSON) for the subscription and POSTs it to its endpoint.</summary>
    /// <param name="endpoint">The subscription's push endpoint.</param>
    /// <param name="p256dh">Subscriber public key (65 octets).</param>
    /// <param name="auth">Subscriber auth secret (16 octets).</param>
    /// <param name="payload">Serialized as JSON; at most <see cref="MaxPayloadLength"/> octets of UTF-8.</param>
    /// <param name="ttlSeconds">How long the push service may hold it for an offline browser (<c>TTL</c>, RFC 8030 §5.2).</param>
    /// <param name="urgency"><c>very-low</c>, <c>low</c>, <c>normal</c> or <c>high</c> (RFC 8030 §5.3).</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <exception cref="PermanentJobException">The payload is longer than <see cref="MaxPayloadLength"/>, or the urgency is unknown: sending again cannot help.</exception>
    /// <exception cref="HttpRequestException">The push service could not be reached: try again later.</exception>
    public async Task<PushOutcome> SendAsync(Uri endpoint, byte[] p256dh, byte[] auth, object payload, int ttlSeconds, string urgency, CancellationToken cancellationToken)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(payload);
        if (body.Length > MaxPayloadLength)
        {
            throw new PermanentJobException($"The push payload is {body.Length} octets; one aes128gcm record holds at most {MaxPayloadLength} (RFC 8291 §4).");
        }

        var message = new PushMessage(new ByteArrayContent(body)) { TimeToLive = ttlSeconds, Urgency = ParseUrgency(urgency) };
        var subscription = new PushSubscription { Endpoint = endpoint.AbsoluteUri };
        subscription.SetKey(PushEncryptionKeyName.P256DH, WebEncoders.Base64UrlEncode(p256dh));
        subscription.SetKey(PushEncryptionKeyName.Auth, WebEncoders.Base64UrlEncode(auth));

        // One VapidAuthentication per send: its ECDSA signer is not documented as thread-safe, and jobs run concurrently.
        using var authentication = vapid.CreateAuthentication(options.Value.Subject);
        var fixes = new RequestFixes(authentication) { InnerHandler = handlers.CreateHandler(HttpClientName) };
        // disposeHandler: false, as the factory owns the pooled inner handler.
        using var http = new HttpClient(fixes, disposeHandler: false) { Timeout = RequestTimeout };
        var client = new PushServiceClient(http) { AutoRetryAfter = false };
        try
        {
            await client.RequestPushMessageDeliveryAsync(subscription, message, authentication, VapidAuthenticationScheme.Vapid, cancellationToken);
            return PushOutcome.Delivered;
        }
        catch (PushServiceClientException ex)
        {
            return ex.StatusCode switch
            {
                >= HttpStatusCode.OK and < HttpStatusCode.MultipleChoices => PushOutcome.Delivered,
                HttpStatusCode.NotFound or HttpStatusCode.Gone => PushOutcome.Gone,
                HttpStatusCode.TooManyRequests or >= HttpStatusCode.InternalServerError => PushOutcome.Retry,
                _ => PushOutcome.Rejected,
            };
        }
    }

    private static PushMessageUrgency ParseUrgency(string urgency) => urgency switch
    {
        "very-low" => PushMessageUrgency.VeryLow,
        "low" => PushMessageUrgency.Low,
        "normal" => PushMessageUrgency.Normal,
        "high" => PushMessageUrgency.High,
        _ => throw new PermanentJobException($"Unknown push urgency '{urgency}' (RFC 8030 §5.3: very-low, low, normal, high)."),
    };

    /// <summary>The two headers of the library's request that we set ourselves, just before it is sent.</summary>
    private sealed class RequestFixes(VapidAuthentication authentication) : DelegatingHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            // RFC 8292 §2: aud is the origin of the push resource, which keeps a non-default port;
            // the library signs for scheme://host.
            var origin = request.RequestUri!.GetLeftPart(UriPartial.Authority);
            request.Headers.Authorization = new AuthenticationHeaderValue("vapid", authentication.GetVapidSchemeAuthenticationHeaderValueParameter(origin));
            // The library leaves Urgency out when it is normal (the RFC 8030 default); we say it.
            if (!request.Headers.Contains("Urgency"))
            {
                request.Headers.Add("Urgency", "normal");
            }

            return base.SendAsync(request, cancellationToken);
        }
    }
}

/// <summary>
/// The application server's VAPID key pair, one per process: from configuration, or in Development
/// generated once into <see cref="WebPushOptions.KeyFile"/> so browsers' subscriptions survive restarts.
/// </summary>
public sealed class VapidKeys(IOptions<WebPushOptions> options, IHostEnvironment environment)
{
    private readonly Lazy<(string PublicKey, string PrivateKey)> keys = new(() => Load(options.Value, environment));

    /// <summary>The public key: an uncompressed P-256 point (65 octets), base64url.</summary>
    public string PublicKey => keys.Value.PublicKey;

    /// <summary>A signer of VAPID tokens (ES256, valid 12 hours) for <paramref name="subject"/>; dispose it after use.</summary>
    /// <param name="subject">The <c>sub</c> claim: a <c>mailto:</c> or <c>https:</c> URI.</param>
    /// <exception cref="ArgumentException"><paramref name="subject"/> is neither.</exception>
    public VapidAuthentication CreateAuthentication(string subject) => new(keys.Value.PublicKey, keys.Value.PrivateKey) { Subject = subject };

    private static (string, string) Load(WebPushOptions settings, IHostEnvironment environment)
    {
        if (settings is { PublicKey: { } configuredPublic, PrivateKey: { } configuredPrivate })
        {
            return Checked(configuredPublic, configuredPrivate);
        }

        if (!environment.IsDevelopment())
        {
            throw new InvalidOperationException("WebPush:PublicKey and WebPush:PrivateKey are required outside Development.");
        }

        var path = Path.GetFullPath(settings.KeyFile);
        if (File.Exists(path) && JsonSerializer.Deserialize<Dictionary<string, string>>(File.ReadAllText(path)) is { } saved)
        {
            return Checked(saved["public_key"], saved["private_key"]);
        }

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var parameters = key.ExportParameters(includePrivateParameters: true);
        var publicKey = WebEncoders.Base64UrlEncode([0x04, .. parameters.Q.X!, .. parameters.Q.Y!]);
        var privateKey = WebEncoders.Base64UrlEncode(parameters.D!);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, JsonSerializer.Serialize(new Dictionary<string, string>
        {
            ["public_key"] = publicKey,
            ["private_key"] = privateKey,
        }));
        return (publicKey, privateKey);
    }

    // Imports the pair once, so a public key that does not belong to the private one fails at start
    // rather than as push services refusing every signature.
    private static (string, string) Checked(string publicKey, string privateKey)
    {
        var point = WebEncoders.Base64UrlDecode(publicKey);
        if (point is not { Length: 65 } || point[0] != 0x04)
        {
            throw new InvalidOperationException("WebPush:PublicKey must be an uncompressed P-256 point (65 octets), base64url.");
        }

        using var pair = ECDsa.Create(new ECParameters
        {
            Curve = ECCurve.NamedCurves.nistP256,
            D = WebEncoders.Base64UrlDecode(privateKey),
            Q = new ECPoint { X = point[1..33], Y = point[33..65] },
        });
        return (publicKey, privateKey);
    }
}

using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;

namespace Holdfast.Infrastructure.WebPush;

/// <summary>Settings under <c>WebPush</c> in configuration.</summary>
public sealed class WebPushOptions
{
    /// <summary>VAPID public key: an uncompressed P-256 point, base64url. With <see cref="PrivateKey"/>; required outside Development.</summary>
    public string? PublicKey { get; set; }

    /// <summary>VAPID private key: the raw P-256 scalar, base64url.</summary>
    public string? PrivateKey { get; set; }

    /// <summary>The VAPID <c>sub</c> claim: a mailto: or https: contact for the push service's operators.</summary>
    public string Subject { get; set; } = "mailto:ops@holdfast.example";

    /// <summary>Development only: where a generated key pair is kept when none is configured (git-ignored).</summary>
    public string KeyFile { get; set; } = ".data/vapid-keys.json";
}

/// <summary>The outcome of one push.</summary>
public enum PushOutcome
{
    /// <summary>The push service accepted it (201).</summary>
    Delivered,

    /// <summary>The subscription no longer exists (404 or 410): delete it.</summary>
    Gone,

    /// <summary>Try again later (429 or 5xx).</summary>
    Retry,

    /// <summary>Refused for good (another 4xx, e.g. payload too large).</summary>
    Rejected,
}

/// <summary>
/// Sends Web Push messages (RFC 8030) with VAPID (RFC 8292) and aes128gcm payloads (RFC 8291), on
/// the shared framework's crypto (Lib.Net.Http.WebPush does not restore here; GUIDE §3).
/// </summary>
public sealed class WebPushSender(HttpClient http, VapidKeys vapid, IOptions<WebPushOptions> options, TimeProvider time)
{
    /// <summary>The VAPID public key (base64url) browsers pass to <c>pushManager.subscribe</c> as <c>applicationServerKey</c>.</summary>
    public string PublicKey => vapid.PublicKey;

    /// <summary>Encrypts <paramref name="payload"/> (JSON) for the subscription and POSTs it to its endpoint.</summary>
    /// <param name="endpoint">The subscription's push endpoint.</param>
    /// <param name="p256dh">Subscriber public key (65 octets).</param>
    /// <param name="auth">Subscriber auth secret (16 octets).</param>
    /// <param name="payload">Serialized as JSON; must encrypt into one 4096-octet record.</param>
    /// <param name="ttlSeconds">How long the push service may hold it for an offline browser (<c>TTL</c>, RFC 8030 §5.2).</param>
    /// <param name="urgency"><c>very-low</c>, <c>low</c>, <c>normal</c> or <c>high</c> (RFC 8030 §5.3).</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    public async Task<PushOutcome> SendAsync(Uri endpoint, byte[] p256dh, byte[] auth, object payload, int ttlSeconds, string urgency, CancellationToken cancellationToken)
    {
        using var ephemeral = ECDiffieHellman.Create(ECCurve.NamedCurves.nistP256);
        var body = WebPushEncryption.Encrypt(JsonSerializer.SerializeToUtf8Bytes(payload), p256dh, auth, ephemeral, RandomNumberGenerator.GetBytes(16));
        using var request = new HttpRequestMessage(HttpMethod.Post, endpoint) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/octet-stream");
        request.Content.Headers.ContentEncoding.Add("aes128gcm");
        request.Headers.TryAddWithoutValidation("Authorization", Vapid.Authorization(endpoint, options.Value.Subject, vapid.Key, time.GetUtcNow()));
        request.Headers.Add("TTL", ttlSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture));
        request.Headers.Add("Urgency", urgency);
        using var response = await http.SendAsync(request, cancellationToken);
        return response.StatusCode switch
        {
            >= HttpStatusCode.OK and < HttpStatusCode.MultipleChoices => PushOutcome.Delivered,
            HttpStatusCode.NotFound or HttpStatusCode.Gone => PushOutcome.Gone,
            HttpStatusCode.TooManyRequests or >= HttpStatusCode.InternalServerError => PushOutcome.Retry,
            _ => PushOutcome.Rejected,
        };
    }

}

/// <summary>
/// The application server's VAPID key pair, one per process: from configuration, or in Development
/// generated once into <see cref="WebPushOptions.KeyFile"/> so browsers' subscriptions survive restarts.
/// </summary>
public sealed class VapidKeys(IOptions<WebPushOptions> options, IHostEnvironment environment)
{
    private readonly Lazy<(ECDsa Key, string PublicKey)> keys = new(() => Load(options.Value, environment));

    /// <summary>The signing key.</summary>
    public ECDsa Key => keys.Value.Key;

    /// <summary>The public key, base64url.</summary>
    public string PublicKey => keys.Value.PublicKey;

    private static (ECDsa, string) Load(WebPushOptions settings, IHostEnvironment environment)
    {
        if (settings is { PublicKey: { } configuredPublic, PrivateKey: { } configuredPrivate })
        {
            return (P256.ImportEcdsa(WebEncoders.Base64UrlDecode(configuredPrivate), WebEncoders.Base64UrlDecode(configuredPublic)), configuredPublic);
        }

        if (!environment.IsDevelopment())
        {
            throw new InvalidOperationException("WebPush:PublicKey and WebPush:PrivateKey are required outside Development.");
        }

        var path = Path.GetFullPath(settings.KeyFile);
        if (File.Exists(path) && JsonSerializer.Deserialize<Dictionary<string, string>>(File.ReadAllText(path)) is { } saved)
        {
            return (P256.ImportEcdsa(WebEncoders.Base64UrlDecode(saved["private_key"]), WebEncoders.Base64UrlDecode(saved["public_key"])), saved["public_key"]);
        }

        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var publicKey = WebEncoders.Base64UrlEncode(P256.Export(key));
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, JsonSerializer.Serialize(new Dictionary<string, string>
        {
            ["public_key"] = publicKey,
            ["private_key"] = WebEncoders.Base64UrlEncode(key.ExportParameters(true).D!),
        }));
        return (key, publicKey);
    }
}

using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.WebUtilities;

namespace Holdfast.Infrastructure.WebPush;

/// <summary>
/// Message encryption for Web Push: RFC 8291 key derivation over the <c>aes128gcm</c> content coding
/// of RFC 8188, with the shared framework's ECDH, HKDF and AES-GCM. One record: the payload plus the
/// 0x02 last-record delimiter must fit in <see cref="RecordSize"/> − 16 octets.
/// </summary>
public static class WebPushEncryption
{
    /// <summary>The record size written in the header (RFC 8188 §2.1), 4096 as browsers expect.</summary>
    public const int RecordSize = 4096;

    /// <summary>The largest plaintext one record holds: rs − 16 (tag) − 1 (delimiter).</summary>
    public const int MaxPlaintextLength = RecordSize - 17;

    /// <summary>
    /// Encrypts <paramref name="plaintext"/> for a subscription. Returns the whole request body:
    /// <c>salt(16) ‖ rs(4) ‖ idlen(1)=65 ‖ as_public(65) ‖ ciphertext</c>.
    /// </summary>
    /// <param name="plaintext">At most <see cref="MaxPlaintextLength"/> octets.</param>
    /// <param name="userAgentPublicKey">The subscription's <c>p256dh</c>: an uncompressed P-256 point (65 octets).</param>
    /// <param name="authSecret">The subscription's <c>auth</c> (16 octets).</param>
    /// <param name="applicationServerKey">The sender's ephemeral P-256 key; a fresh one per message (tests pass RFC 8291's).</param>
    /// <param name="salt">16 random octets per message (tests pass RFC 8291's).</param>
    /// <exception cref="ArgumentException">A key of the wrong length, or a plaintext too long for one record.</exception>
    public static byte[] Encrypt(ReadOnlySpan<byte> plaintext, byte[] userAgentPublicKey, byte[] authSecret, ECDiffieHellman applicationServerKey, byte[] salt)
    {
        if (userAgentPublicKey is not { Length: 65 } || userAgentPublicKey[0] != 0x04)
        {
            throw new ArgumentException("p256dh must be an uncompressed P-256 point (65 octets).", nameof(userAgentPublicKey));
        }

        ArgumentOutOfRangeException.ThrowIfNotEqual(authSecret.Length, 16, nameof(authSecret));
        ArgumentOutOfRangeException.ThrowIfNotEqual(salt.Length, 16, nameof(salt));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(plaintext.Length, MaxPlaintextLength, nameof(plaintext));

        var asPublic = P256.Export(applicationServerKey);
        using var userAgent = P256.ImportPublic(userAgentPublicKey);
        var ecdhSecret = applicationServerKey.DeriveRawSecretAgreement(userAgent.PublicKey);

        // RFC 8291 §3.4: IKM = HKDF(auth_secret, ecdh_secret, "WebPush: info" ‖ 0x00 ‖ ua_public ‖ as_public, 32)
        var keyInfo = Concat(Encoding.ASCII.GetBytes("WebPush: info\0"), userAgentPublicKey, asPublic);
        var ikm = HKDF.DeriveKey(HashAlgorithmName.SHA256, ecdhSecret, 32, authSecret, keyInfo);

        // RFC 8188 §2.2–2.3: CEK and nonce from the salt.
        var prk = HKDF.Extract(HashAlgorithmName.SHA256, ikm, salt);
        var cek = HKDF.Expand(HashAlgorithmName.SHA256, prk, 16, Encoding.ASCII.GetBytes("Content-Encoding: aes128gcm\0"));
        var nonce = HKDF.Expand(HashAlgorithmName.SHA256, prk, 12, Encoding.ASCII.GetBytes("Content-Encoding: nonce\0"));

        var padded = new byte[plaintext.Length + 1];
        plaintext.CopyTo(padded);
        padded[^1] = 0x02; // last (and only) record, no padding
        var body = new byte[16 + 4 + 1 + 65 + padded.Length + 16];
        salt.CopyTo(body, 0);
        BinaryPrimitives.WriteUInt32BigEndian(body.AsSpan(16), RecordSize);
        body[20] = 65;
        asPublic.CopyTo(body, 21);
        using var aes = new AesGcm(cek, 16);
        aes.Encrypt(nonce, padded, body.AsSpan(86, padded.Length), body.AsSpan(86 + padded.Length, 16));
        return body;
    }

    private static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();
}

/// <summary>P-256 keys as Web Push writes them: uncompressed points and raw scalars.</summary>
public static class P256
{
    /// <summary>The uncompressed point <c>0x04 ‖ X ‖ Y</c> (65 octets) of <paramref name="key"/>.</summary>
    public static byte[] Export(ECAlgorithm key)
    {
        var q = key.ExportParameters(false).Q;
        return [0x04, .. q.X!, .. q.Y!];
    }

    /// <summary>An ECDH key holding only the public point <paramref name="point"/> (65 octets).</summary>
    public static ECDiffieHellman ImportPublic(byte[] point) =>
        ECDiffieHellman.Create(new ECParameters { Curve = ECCurve.NamedCurves.nistP256, Q = Point(point) });

    /// <summary>An ECDH key from its raw private scalar and public point.</summary>
    public static ECDiffieHellman ImportEcdh(byte[] privateScalar, byte[] point) =>
        ECDiffieHellman.Create(new ECParameters { Curve = ECCurve.NamedCurves.nistP256, D = privateScalar, Q = Point(point) });

    /// <summary>An ECDSA key (for VAPID) from its raw private scalar and public point.</summary>
    public static ECDsa ImportEcdsa(byte[] privateScalar, byte[] point) =>
        ECDsa.Create(new ECParameters { Curve = ECCurve.NamedCurves.nistP256, D = privateScalar, Q = Point(point) });

    private static ECPoint Point(byte[] point) =>
        point is { Length: 65 } && point[0] == 0x04
            ? new ECPoint { X = point[1..33], Y = point[33..65] }
            : throw new ArgumentException("Expected an uncompressed P-256 point (65 octets).", nameof(point));
}

/// <summary>
/// VAPID (RFC 8292): the application server's signed claim on a push request, an ES256 JWT with
/// <c>aud</c> = the push service's origin, <c>exp</c> ≤ 24 h ahead and <c>sub</c> a contact URI, sent as
/// <c>Authorization: vapid t=&lt;jwt&gt;, k=&lt;public key&gt;</c>.
/// </summary>
public static class Vapid
{
    /// <summary>The Authorization header value for a push to <paramref name="endpoint"/>, valid 12 hours from <paramref name="now"/>.</summary>
    public static string Authorization(Uri endpoint, string subject, ECDsa key, DateTimeOffset now)
    {
        var header = WebEncoders.Base64UrlEncode("""{"typ":"JWT","alg":"ES256"}"""u8.ToArray());
        var claims = WebEncoders.Base64UrlEncode(JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object>
        {
            ["aud"] = endpoint.GetLeftPart(UriPartial.Authority),
            ["exp"] = now.AddHours(12).ToUnixTimeSeconds(),
            ["sub"] = subject,
        }));
        // .NET signs in the IEEE P1363 form (r ‖ s), which is what JWS ES256 wants.
        var signature = key.SignData(Encoding.ASCII.GetBytes($"{header}.{claims}"), HashAlgorithmName.SHA256);
        return $"vapid t={header}.{claims}.{WebEncoders.Base64UrlEncode(signature)}, k={WebEncoders.Base64UrlEncode(P256.Export(key))}";
    }
}

using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.WebUtilities;

namespace Holdfast.Tests.Infrastructure;

/// <summary>The browser's and the push service's halves, written independently of the sender to check it.</summary>
public static class PushDecryption
{
    /// <summary>Decrypts an aes128gcm Web Push body (RFC 8291 / RFC 8188) with the subscriber's private key.</summary>
    public static byte[] Decrypt(byte[] body, ECDiffieHellman subscriber, byte[] authSecret)
    {
        var salt = body[..16];
        var recordSize = BinaryPrimitives.ReadUInt32BigEndian(body.AsSpan(16));
        Assert.Equal(4096u, recordSize);
        var idLength = body[20];
        var senderPublic = body[21..(21 + idLength)];
        var ciphertext = body[(21 + idLength)..];
        Assert.True(ciphertext.Length <= recordSize, $"one record (RFC 8291 §4): {ciphertext.Length} octets of ciphertext in records of {recordSize}");
        using var sender = ImportPublic(senderPublic);
        var shared = subscriber.DeriveRawSecretAgreement(sender.PublicKey);
        var info = Encoding.ASCII.GetBytes("WebPush: info\0").Concat(Export(subscriber)).Concat(senderPublic).ToArray();
        var ikm = HKDF.DeriveKey(HashAlgorithmName.SHA256, shared, 32, authSecret, info);
        var prk = HKDF.Extract(HashAlgorithmName.SHA256, ikm, salt);
        var cek = HKDF.Expand(HashAlgorithmName.SHA256, prk, 16, Encoding.ASCII.GetBytes("Content-Encoding: aes128gcm\0"));
        var nonce = HKDF.Expand(HashAlgorithmName.SHA256, prk, 12, Encoding.ASCII.GetBytes("Content-Encoding: nonce\0"));
        var padded = new byte[ciphertext.Length - 16];
        using var aes = new AesGcm(cek, 16);
        aes.Decrypt(nonce, ciphertext[..^16], ciphertext[^16..], padded);
        var end = Array.LastIndexOf(padded, (byte)0x02);
        Assert.True(end >= 0 && padded[(end + 1)..].All(b => b == 0), "last-record delimiter followed only by padding");
        return padded[..end];
    }

    /// <summary>Checks <c>vapid t=…, k=…</c> as a push service does; returns the JWT claims, or null when the signature fails.</summary>
    public static JsonObject? VerifyVapid(string authorization)
    {
        var parts = authorization["vapid ".Length..].Split(", ");
        var token = parts.Single(p => p.StartsWith("t=", StringComparison.Ordinal))[2..];
        var key = WebEncoders.Base64UrlDecode(parts.Single(p => p.StartsWith("k=", StringComparison.Ordinal))[2..]);
        var segments = token.Split('.');
        using var verifier = ECDsa.Create(new ECParameters { Curve = ECCurve.NamedCurves.nistP256, Q = new ECPoint { X = key[1..33], Y = key[33..65] } });
        bool valid;
        try
        {
            valid = verifier.VerifyData(Encoding.ASCII.GetBytes($"{segments[0]}.{segments[1]}"), WebEncoders.Base64UrlDecode(segments[2]), HashAlgorithmName.SHA256);
        }
        catch (FormatException)
        {
            valid = false;
        }

        var header = JsonNode.Parse(WebEncoders.Base64UrlDecode(segments[0]))!;
        return valid && header["alg"]!.GetValue<string>() == "ES256" ? JsonNode.Parse(WebEncoders.Base64UrlDecode(segments[1]))!.AsObject() : null;
    }

    /// <summary>The uncompressed point <c>0x04 ‖ X ‖ Y</c> (65 octets) of <paramref name="key"/>, as a browser's <c>p256dh</c>.</summary>
    public static byte[] Export(ECAlgorithm key)
    {
        var q = key.ExportParameters(false).Q;
        return [0x04, .. q.X!, .. q.Y!];
    }

    /// <summary>An ECDH key from a raw private scalar and its uncompressed public point.</summary>
    public static ECDiffieHellman ImportEcdh(byte[] privateScalar, byte[] point) =>
        ECDiffieHellman.Create(new ECParameters { Curve = ECCurve.NamedCurves.nistP256, D = privateScalar, Q = Point(point) });

    private static ECDiffieHellman ImportPublic(byte[] point) =>
        ECDiffieHellman.Create(new ECParameters { Curve = ECCurve.NamedCurves.nistP256, Q = Point(point) });

    private static ECPoint Point(byte[] point) => new() { X = point[1..33], Y = point[33..65] };
}

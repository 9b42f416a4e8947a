using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;

namespace Holdfast.Infrastructure.Auth;

/// <summary>
/// Tokens for links in emails (confirm a subscription, unsubscribe): <c>base64url(id ‖ HMAC-SHA-256(key, purpose ‖ id)[..16])</c>,
/// with a key derived by HKDF from <c>Auth:SigningKey</c>. They need no storage and cannot be
/// forged or moved to another purpose or id; they do not expire, which suits unsubscribe links.
/// </summary>
public sealed class LinkTokens(IOptions<AuthOptions> options)
{
    private readonly byte[] key = HKDF.DeriveKey(HashAlgorithmName.SHA256, Encoding.UTF8.GetBytes(options.Value.SigningKey!), 32,
        info: Encoding.ASCII.GetBytes("holdfast link tokens"));

    /// <summary>The token for <paramref name="id"/> under <paramref name="purpose"/> (e.g. <c>newsletter-unsubscribe</c>).</summary>
    public string Create(string purpose, long id)
    {
        var token = new byte[24];
        BinaryPrimitives.WriteInt64BigEndian(token, id);
        Mac(purpose, id).AsSpan(0, 16).CopyTo(token.AsSpan(8));
        return WebEncoders.Base64UrlEncode(token);
    }

    /// <summary>The id a valid token for <paramref name="purpose"/> carries, or null.</summary>
    public long? Verify(string purpose, string? token)
    {
        byte[] bytes;
        try
        {
            bytes = token is { Length: 32 } ? WebEncoders.Base64UrlDecode(token) : [];
        }
        catch (FormatException)
        {
            return null;
        }

        if (bytes.Length != 24)
        {
            return null;
        }

        var id = BinaryPrimitives.ReadInt64BigEndian(bytes);
        return CryptographicOperations.FixedTimeEquals(bytes.AsSpan(8), Mac(purpose, id).AsSpan(0, 16)) ? id : null;
    }

    private byte[] Mac(string purpose, long id) => HMACSHA256.HashData(key, Encoding.UTF8.GetBytes($"{purpose}:{id}"));
}

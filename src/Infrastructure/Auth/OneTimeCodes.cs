using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace Holdfast.Infrastructure.Auth;

/// <summary>
/// Short numeric one-time codes (a code sent by SMS) that are never stored: a code is
/// HMAC-SHA-256(key, purpose ‖ id ‖ salt) reduced to six digits (as HOTP, RFC 4226 §5.3, reduces
/// its HMAC), with a key derived by HKDF from <c>Auth:SigningKey</c>. Storing the random salt lets
/// the app derive the code again (to send it, to check it) while the database alone cannot.
/// </summary>
public sealed class OneTimeCodes(IOptions<AuthOptions> options)
{
    private readonly byte[] key = HKDF.DeriveKey(HashAlgorithmName.SHA256, Encoding.UTF8.GetBytes(options.Value.SigningKey!), 32,
        info: Encoding.ASCII.GetBytes("holdfast one-time codes"));

    /// <summary>The six-digit code for <paramref name="id"/> and <paramref name="salt"/> under <paramref name="purpose"/>.</summary>
    public string Derive(string purpose, long id, byte[] salt)
    {
        var data = Encoding.UTF8.GetBytes($"{purpose}:{id}:").Concat(salt).ToArray();
        var mac = HMACSHA256.HashData(key, data);
        var value = BinaryPrimitives.ReadUInt32BigEndian(mac) & 0x7fffffff;
        return (value % 1_000_000).ToString("D6", CultureInfo.InvariantCulture);
    }

    /// <summary>True when <paramref name="presented"/> is the code (compared in constant time).</summary>
    public bool Matches(string purpose, long id, byte[] salt, string? presented) =>
        presented is { Length: 6 } && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Derive(purpose, id, salt)), Encoding.ASCII.GetBytes(presented));
}

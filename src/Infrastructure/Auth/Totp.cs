using System.Security.Cryptography;
using System.Text;

namespace Holdfast.Infrastructure.Auth;

/// <summary>
/// Time-based one-time passwords: RFC 6238 (TOTP) over RFC 4226 (HOTP) with the parameters every
/// authenticator app uses: 30-second steps counted from the Unix epoch, 6 digits, HMAC-SHA-1.
/// Secrets travel as RFC 4648 base32 in an <c>otpauth://totp/</c> URI (Google Authenticator key-uri format).
/// </summary>
public static class Totp
{
    /// <summary>Seconds per time step (RFC 6238 X).</summary>
    public const int StepSeconds = 30;

    /// <summary>Digits in a code.</summary>
    public const int Digits = 6;

    /// <summary>A new random 160-bit secret, the size RFC 4226 §4 recommends for HMAC-SHA-1.</summary>
    public static byte[] NewSecret() => RandomNumberGenerator.GetBytes(20);

    /// <summary>The time step containing <paramref name="now"/> (RFC 6238 T = floor(unix time / X)).</summary>
    public static long StepAt(DateTimeOffset now) => now.ToUnixTimeSeconds() / StepSeconds;

    /// <summary>
    /// The code for time step <paramref name="step"/> (RFC 4226 §5.3 dynamic truncation), zero-padded to
    /// <paramref name="digits"/> digits. <paramref name="algorithm"/> is SHA1 (default), SHA256 or SHA512.
    /// </summary>
    public static string Code(byte[] secret, long step, int digits = Digits, HashAlgorithmName? algorithm = null)
    {
        Span<byte> counter = stackalloc byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(counter, step);
        var name = algorithm ?? HashAlgorithmName.SHA1;
        byte[] hash = name == HashAlgorithmName.SHA256 ? HMACSHA256.HashData(secret, counter)
            : name == HashAlgorithmName.SHA512 ? HMACSHA512.HashData(secret, counter)
#pragma warning disable CA5350 // RFC 6238 authenticator apps use HMAC-SHA-1; HMAC keeps SHA-1's collision weakness out of reach.
            : HMACSHA1.HashData(secret, counter);
#pragma warning restore CA5350
        var offset = hash[^1] & 0x0f;
        var binary = ((hash[offset] & 0x7f) << 24) | (hash[offset + 1] << 16) | (hash[offset + 2] << 8) | hash[offset + 3];
        var modulo = (int)Math.Pow(10, digits);
        return (binary % modulo).ToString(System.Globalization.CultureInfo.InvariantCulture).PadLeft(digits, '0');
    }

    /// <summary>
    /// Checks <paramref name="code"/> against the steps from one before to one after <paramref name="now"/>
    /// (RFC 6238 §5.2 allows for clock drift and network delay), newest first, in constant time per
    /// comparison. Steps at or before <paramref name="lastUsedStep"/> are refused so a code works once.
    /// </summary>
    /// <returns>The matching step, or null.</returns>
    public static long? Verify(byte[] secret, string? code, DateTimeOffset now, long? lastUsedStep = null)
    {
        if (code is null || code.Length != Digits || !code.All(char.IsAsciiDigit))
        {
            return null;
        }

        var current = StepAt(now);
        for (var step = current + 1; step >= current - 1; step--)
        {
            if (step <= (lastUsedStep ?? long.MinValue))
            {
                break;
            }

            if (CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Code(secret, step)), Encoding.ASCII.GetBytes(code)))
            {
                return step;
            }
        }

        return null;
    }

    /// <summary>The <c>otpauth://totp/Issuer:account?secret=…&amp;issuer=…&amp;algorithm=SHA1&amp;digits=6&amp;period=30</c> URI for QR codes.</summary>
    public static string OtpAuthUri(string issuer, string account, byte[] secret) =>
        $"otpauth://totp/{Uri.EscapeDataString(issuer)}:{Uri.EscapeDataString(account)}?secret={Base32.Encode(secret)}" +
        $"&issuer={Uri.EscapeDataString(issuer)}&algorithm=SHA1&digits={Digits}&period={StepSeconds}";
}

/// <summary>RFC 4648 §6 base32 (A–Z, 2–7), unpadded as authenticator apps expect.</summary>
public static class Base32
{
    private const string Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

    /// <summary>Encodes without padding.</summary>
    public static string Encode(ReadOnlySpan<byte> data)
    {
        var output = new StringBuilder((data.Length * 8 + 4) / 5);
        int buffer = 0, bits = 0;
        foreach (var b in data)
        {
            buffer = (buffer << 8) | b;
            bits += 8;
            while (bits >= 5)
            {
                output.Append(Alphabet[(buffer >> (bits - 5)) & 31]);
                bits -= 5;
            }
        }

        if (bits > 0)
        {
            output.Append(Alphabet[(buffer << (5 - bits)) & 31]);
        }

        return output.ToString();
    }

    /// <summary>Decodes, ignoring case, spaces and padding.</summary>
    /// <exception cref="FormatException">A character outside the alphabet.</exception>
    public static byte[] Decode(string text)
    {
        var output = new List<byte>(text.Length * 5 / 8);
        int buffer = 0, bits = 0;
        foreach (var c in text.ToUpperInvariant())
        {
            if (c is '=' or ' ')
            {
                continue;
            }

            var value = Alphabet.IndexOf(c, StringComparison.Ordinal);
            if (value < 0)
            {
                throw new FormatException($"'{c}' is not a base32 character.");
            }

            buffer = (buffer << 5) | value;
            bits += 5;
            if (bits >= 8)
            {
                output.Add((byte)(buffer >> (bits - 8)));
                bits -= 8;
            }
        }

        return [.. output];
    }
}

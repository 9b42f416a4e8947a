using OtpNet;

namespace Holdfast.Infrastructure.Auth;

/// <summary>
/// Time-based one-time passwords, RFC 6238 (TOTP) over RFC 4226 (HOTP), with the parameters every
/// authenticator app uses: 30-second steps counted from the Unix epoch, 6 digits, HMAC-SHA-1. The codes,
/// the verification window and base32 (RFC 4648) come from Otp.NET (https://github.com/kspearrin/Otp.NET);
/// what is ours is that a code works once: a step at or before the last one used is refused, and the
/// caller stores the step it was given (docs/decisions/0015-otp-net-and-testcontainers.md).
/// </summary>
public static class Totp
{
    /// <summary>Seconds per time step (RFC 6238 X).</summary>
    public const int StepSeconds = 30;

    /// <summary>Digits in a code.</summary>
    public const int Digits = 6;

    /// <summary>
    /// A new random 160-bit secret, the size RFC 4226 §4 recommends for HMAC-SHA-1 (from
    /// <see cref="System.Security.Cryptography.RandomNumberGenerator"/>). 20 bytes are 32 base32 characters, so it needs no padding.
    /// </summary>
    public static byte[] NewSecret() => KeyGeneration.GenerateRandomKey(OtpHashMode.Sha1);

    /// <summary>
    /// Checks <paramref name="code"/> against the time step containing <paramref name="now"/> and the one
    /// either side (Otp.NET's <see cref="VerificationWindow.RfcSpecifiedNetworkDelay"/>, RFC 6238 §5.2:
    /// clock drift and network delay), comparing in constant time. A matching step at or before
    /// <paramref name="lastUsedStep"/> is refused, so each code works once.
    /// </summary>
    /// <param name="secret">The shared secret (raw bytes, not base32).</param>
    /// <param name="code">What the user typed; null, empty or malformed is simply not a match.</param>
    /// <param name="now">The caller's clock (its <see cref="TimeProvider"/>).</param>
    /// <param name="lastUsedStep">The step of the last accepted code, if any.</param>
    /// <returns>The matching step (RFC 6238 T = floor(unix time / 30)) to store, or null.</returns>
    public static long? Verify(byte[] secret, string? code, DateTimeOffset now, long? lastUsedStep = null)
    {
        if (string.IsNullOrEmpty(code))
        {
            return null;
        }

        var totp = new OtpNet.Totp(secret, StepSeconds, OtpHashMode.Sha1, Digits);
        return totp.VerifyTotp(now.UtcDateTime, code, out var step, VerificationWindow.RfcSpecifiedNetworkDelay)
            && step > (lastUsedStep ?? long.MinValue)
            ? step
            : null;
    }

    /// <summary>
    /// The Google Authenticator key-uri <c>otpauth://totp/Issuer:account?secret=…&amp;issuer=…&amp;algorithm=SHA1&amp;digits=6&amp;period=30</c>
    /// for QR codes (Otp.NET's <see cref="OtpUri"/>).
    /// </summary>
    public static string OtpAuthUri(string issuer, string account, byte[] secret) =>
        new OtpUri(OtpType.Totp, secret, account, issuer, OtpHashMode.Sha1, Digits, StepSeconds).ToString();
}

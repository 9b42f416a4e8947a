using System.Text;
using OtpNet;
using Totp = Holdfast.Infrastructure.Auth.Totp;

namespace Holdfast.Tests.Infrastructure;

/// <summary>Otp.NET against the RFC vectors, and our once-per-step rule on top of it.</summary>
public sealed class TotpTests
{
    private static readonly byte[] Sha1Seed = Encoding.ASCII.GetBytes("12345678901234567890");
    private static readonly byte[] Sha256Seed = Encoding.ASCII.GetBytes("12345678901234567890123456789012");
    private static readonly byte[] Sha512Seed = Encoding.ASCII.GetBytes("1234567890123456789012345678901234567890123456789012345678901234");

    // RFC 6238 Appendix B: every row of the table (8-digit codes).
    [Theory]
    [InlineData(59L, "94287082", "46119246", "90693936")]
    [InlineData(1111111109L, "07081804", "68084774", "25091201")]
    [InlineData(1111111111L, "14050471", "67062674", "99943326")]
    [InlineData(1234567890L, "89005924", "91819424", "93441116")]
    [InlineData(2000000000L, "69279037", "90698825", "38618901")]
    [InlineData(20000000000L, "65353130", "77737706", "47863826")]
    public void Codes_match_the_RFC_6238_appendix_B_vectors(long unixTime, string sha1, string sha256, string sha512)
    {
        var at = DateTimeOffset.FromUnixTimeSeconds(unixTime).UtcDateTime;
        Assert.Equal(sha1, new OtpNet.Totp(Sha1Seed, Totp.StepSeconds, OtpHashMode.Sha1, 8).ComputeTotp(at));
        Assert.Equal(sha256, new OtpNet.Totp(Sha256Seed, Totp.StepSeconds, OtpHashMode.Sha256, 8).ComputeTotp(at));
        Assert.Equal(sha512, new OtpNet.Totp(Sha512Seed, Totp.StepSeconds, OtpHashMode.Sha512, 8).ComputeTotp(at));
    }

    [Fact]
    public void RFC_4226_appendix_D_HOTP_values_hold_for_six_digits()
    {
        string[] expected = ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"];
        var hotp = new Hotp(Sha1Seed, OtpHashMode.Sha1, Totp.Digits);
        Assert.Equal(expected, Enumerable.Range(0, 10).Select(counter => hotp.ComputeHOTP(counter)));
    }

    [Fact]
    public void A_code_is_accepted_one_step_either_side_and_only_once()
    {
        var now = DateTimeOffset.FromUnixTimeSeconds(1_800_000_000);
        var step = now.ToUnixTimeSeconds() / Totp.StepSeconds;
        var secret = Totp.NewSecret();
        string Code(int stepsFromNow) => new OtpNet.Totp(secret).ComputeTotp(now.AddSeconds(stepsFromNow * Totp.StepSeconds).UtcDateTime);

        Assert.Equal(step, Totp.Verify(secret, Code(0), now));
        Assert.Equal(step - 1, Totp.Verify(secret, Code(-1), now));
        Assert.Equal(step + 1, Totp.Verify(secret, Code(1), now));
        Assert.Null(Totp.Verify(secret, Code(-2), now));
        Assert.Null(Totp.Verify(secret, Code(2), now));
        Assert.Null(Totp.Verify(secret, Code(0), now, lastUsedStep: step));
        Assert.Null(Totp.Verify(secret, Code(-1), now, lastUsedStep: step));
        Assert.Equal(step + 1, Totp.Verify(secret, Code(1), now, lastUsedStep: step));
        Assert.Null(Totp.Verify(secret, "12345", now));
        Assert.Null(Totp.Verify(secret, "abcdef", now));
        Assert.Null(Totp.Verify(secret, "", now));
        Assert.Null(Totp.Verify(secret, null, now));
    }

    [Fact]
    public void The_secret_is_handed_out_as_unpadded_base32_in_an_otpauth_uri()
    {
        var secret = Totp.NewSecret();
        Assert.Equal(20, secret.Length);
        var uri = new Uri(Totp.OtpAuthUri("Holdfast", "ana@example.com", secret));
        Assert.StartsWith("otpauth://totp/Holdfast:ana%40example.com?secret=", uri.OriginalString, StringComparison.Ordinal);
        var query = uri.Query.TrimStart('?').Split('&').Select(p => p.Split('=', 2)).ToDictionary(p => p[0], p => p[1], StringComparer.Ordinal);
        Assert.DoesNotContain('=', query["secret"]);
        Assert.Equal(secret, Base32Encoding.ToBytes(query["secret"]));
        Assert.Equal(("Holdfast", "SHA1", "6", "30"), (query["issuer"], query["algorithm"], query["digits"], query["period"]));
    }
}

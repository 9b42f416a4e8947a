using System.Security.Cryptography;
using System.Text;
using Holdfast.Infrastructure.Auth;

namespace Holdfast.Tests.Infrastructure;

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
        var step = Totp.StepAt(DateTimeOffset.FromUnixTimeSeconds(unixTime));
        Assert.Equal(sha1, Totp.Code(Sha1Seed, step, 8));
        Assert.Equal(sha256, Totp.Code(Sha256Seed, step, 8, HashAlgorithmName.SHA256));
        Assert.Equal(sha512, Totp.Code(Sha512Seed, step, 8, HashAlgorithmName.SHA512));
    }

    [Fact]
    public void RFC_4226_appendix_D_HOTP_values_hold_for_six_digits()
    {
        string[] expected = ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"];
        Assert.Equal(expected, Enumerable.Range(0, 10).Select(counter => Totp.Code(Sha1Seed, counter)));
    }

    [Fact]
    public void A_code_is_accepted_one_step_either_side_and_only_once()
    {
        var now = DateTimeOffset.FromUnixTimeSeconds(1_800_000_000);
        var step = Totp.StepAt(now);
        var secret = Totp.NewSecret();

        Assert.Equal(step - 1, Totp.Verify(secret, Totp.Code(secret, step - 1), now));
        Assert.Equal(step + 1, Totp.Verify(secret, Totp.Code(secret, step + 1), now));
        Assert.Null(Totp.Verify(secret, Totp.Code(secret, step - 2), now));
        Assert.Null(Totp.Verify(secret, Totp.Code(secret, step + 2), now));
        Assert.Null(Totp.Verify(secret, Totp.Code(secret, step), now, lastUsedStep: step));
        Assert.Null(Totp.Verify(secret, "12345", now));
        Assert.Null(Totp.Verify(secret, "abcdef", now));
    }

    [Fact]
    public void Base32_round_trips_and_matches_RFC_4648_test_vectors()
    {
        Assert.Equal("MZXW6YTBOI", Base32.Encode("foobar"u8));
        Assert.Equal("MY", Base32.Encode("f"u8));
        Assert.Equal("foobar"u8.ToArray(), Base32.Decode("mzxw6ytboi======"));
        var secret = Totp.NewSecret();
        Assert.Equal(secret, Base32.Decode(Base32.Encode(secret)));
        Assert.StartsWith("otpauth://totp/Holdfast:ana%40example.com?secret=", Totp.OtpAuthUri("Holdfast", "ana@example.com", secret), StringComparison.Ordinal);
    }
}

using System.Security.Cryptography;
using System.Text;
using Holdfast.Infrastructure.WebPush;
using Microsoft.AspNetCore.WebUtilities;

namespace Holdfast.Tests.Infrastructure;

public sealed class WebPushCryptoTests
{
    private static byte[] B(string base64Url) => WebEncoders.Base64UrlDecode(base64Url);

    // RFC 8291 Appendix A, every value as printed there.
    private const string AsPrivate = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw";
    private const string AsPublic = "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8";
    private const string UaPrivate = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94";
    private const string UaPublic = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
    private const string AuthSecret = "BTBZMqHH6r4Tts7J_aSIgg";
    private const string Salt = "DGv6ra1nlYgDCS1FRnbzlw";
    private const string Body = "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN";

    [Fact]
    public void Encryption_reproduces_the_RFC_8291_appendix_A_message()
    {
        using var applicationServer = P256.ImportEcdh(B(AsPrivate), B(AsPublic));

        var body = WebPushEncryption.Encrypt("When I grow up, I want to be a watermelon"u8, B(UaPublic), B(AuthSecret), applicationServer, B(Salt));

        Assert.Equal(Body, WebEncoders.Base64UrlEncode(body));
    }

    [Fact]
    public void The_subscriber_decrypts_what_a_fresh_key_and_salt_encrypt()
    {
        using var subscriber = ECDiffieHellman.Create(ECCurve.NamedCurves.nistP256);
        var auth = RandomNumberGenerator.GetBytes(16);
        using var ephemeral = ECDiffieHellman.Create(ECCurve.NamedCurves.nistP256);

        var body = WebPushEncryption.Encrypt("Your flight leaves at 21:55"u8, P256.Export(subscriber), auth, ephemeral, RandomNumberGenerator.GetBytes(16));

        Assert.Equal("Your flight leaves at 21:55", Encoding.UTF8.GetString(PushDecryption.Decrypt(body, subscriber, auth)));
        Assert.Equal("When I grow up, I want to be a watermelon",
            Encoding.UTF8.GetString(PushDecryption.Decrypt(B(Body), P256.ImportEcdh(B(UaPrivate), B(UaPublic)), B(AuthSecret))));
    }

    [Fact]
    public void A_VAPID_header_is_an_ES256_JWT_for_the_push_service_origin_that_verifies_with_k()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var now = DateTimeOffset.FromUnixTimeSeconds(1_800_000_000);

        var header = Vapid.Authorization(new Uri("https://push.example.net/send/abc?x=1"), "mailto:ops@holdfast.example", key, now);

        var claims = PushDecryption.VerifyVapid(header);
        Assert.NotNull(claims);
        Assert.Equal("https://push.example.net", claims!["aud"]!.GetValue<string>());
        Assert.Equal(1_800_000_000 + (12 * 3600), claims["exp"]!.GetValue<long>());
        Assert.Equal("mailto:ops@holdfast.example", claims["sub"]!.GetValue<string>());
        using var other = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var otherHeader = Vapid.Authorization(new Uri("https://push.example.net/send/abc"), "mailto:ops@holdfast.example", other, now);
        var forged = header[..header.IndexOf(", k=", StringComparison.Ordinal)] + otherHeader[otherHeader.IndexOf(", k=", StringComparison.Ordinal)..];
        Assert.Null(PushDecryption.VerifyVapid(forged));
    }
}

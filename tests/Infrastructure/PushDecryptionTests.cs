using System.Security.Cryptography;
using System.Text;
using Lib.Net.Http.WebPush.Authentication;
using Microsoft.AspNetCore.WebUtilities;

namespace Holdfast.Tests.Infrastructure;

/// <summary>
/// The test's browser and push service halves (<see cref="PushDecryption"/>) checked against the RFCs,
/// so that the end-to-end push tests can trust them to judge what the sender wrote.
/// </summary>
public sealed class PushDecryptionTests
{
    private static byte[] B(string base64Url) => WebEncoders.Base64UrlDecode(base64Url);

    // RFC 8291 Appendix A, every value as printed there.
    private const string UaPrivate = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94";
    private const string UaPublic = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
    private const string AuthSecret = "BTBZMqHH6r4Tts7J_aSIgg";
    private const string Body = "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN";

    [Fact]
    public void The_browser_half_decrypts_the_RFC_8291_appendix_A_message()
    {
        using var userAgent = PushDecryption.ImportEcdh(B(UaPrivate), B(UaPublic));

        Assert.Equal("When I grow up, I want to be a watermelon", Encoding.UTF8.GetString(PushDecryption.Decrypt(B(Body), userAgent, B(AuthSecret))));
    }

    [Fact]
    public void The_push_service_half_accepts_a_VAPID_token_only_with_the_key_that_signed_it()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var other = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var header = Header(key);
        var otherHeader = Header(other);

        Assert.Equal("https://push.example.net", PushDecryption.VerifyVapid(header)!["aud"]!.GetValue<string>());
        var forged = header[..header.IndexOf(", k=", StringComparison.Ordinal)] + otherHeader[otherHeader.IndexOf(", k=", StringComparison.Ordinal)..];
        Assert.Null(PushDecryption.VerifyVapid(forged));
    }

    private static string Header(ECDsa key)
    {
        var parameters = key.ExportParameters(true);
        using var vapid = new VapidAuthentication(WebEncoders.Base64UrlEncode([0x04, .. parameters.Q.X!, .. parameters.Q.Y!]), WebEncoders.Base64UrlEncode(parameters.D!));
        return "vapid " + vapid.GetVapidSchemeAuthenticationHeaderValueParameter("https://push.example.net");
    }
}

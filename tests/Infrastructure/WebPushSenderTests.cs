using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Holdfast.Infrastructure.Jobs;
using Holdfast.Infrastructure.WebPush;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting.Internal;
using Microsoft.Extensions.Options;

namespace Holdfast.Tests.Infrastructure;

/// <summary>
/// The sender against a local push service on a random, so non-default, port and a browser's key
/// pair: where Lib.Net.Http.WebPush differs from RFC 8030/8291/8292 (decision 0013), what goes out is ours.
/// </summary>
public sealed class WebPushSenderTests(PushService pushService) : IClassFixture<PushService>, IDisposable
{
    private readonly ServiceProvider services = new ServiceCollection().AddHttpClient().BuildServiceProvider();
    private readonly ECDiffieHellman browser = ECDiffieHellman.Create(ECCurve.NamedCurves.nistP256);
    private readonly byte[] auth = RandomNumberGenerator.GetBytes(16);
    private readonly (string Public, string Private) vapid = NewKeyPair();

    [Fact]
    public async Task The_VAPID_token_is_for_the_push_service_origin_with_its_port()
    {
        var path = $"/push/{Guid.NewGuid():N}";
        var before = DateTimeOffset.UtcNow;

        Assert.Equal(PushOutcome.Delivered, await SendAsync(path, new { title = "Hello" }));

        var request = await pushService.WaitForAsync(path);
        var claims = PushDecryption.VerifyVapid(request.Authorization);
        Assert.NotNull(claims);
        Assert.Matches(@"^http://127\.0\.0\.1:\d+$", pushService.Origin);
        Assert.Equal(pushService.Origin, claims!["aud"]!.GetValue<string>()); // RFC 8292 §2: the origin keeps its port
        Assert.Equal("mailto:ops@holdfast.example", claims["sub"]!.GetValue<string>());
        Assert.InRange(DateTimeOffset.FromUnixTimeSeconds(claims["exp"]!.GetValue<long>()), before.AddHours(11), before.AddHours(24));
        Assert.EndsWith($", k={vapid.Public}", request.Authorization, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("very-low")]
    [InlineData("low")]
    [InlineData("normal")]
    [InlineData("high")]
    public async Task Urgency_is_sent_as_asked_normal_included(string urgency)
    {
        var path = $"/push/{Guid.NewGuid():N}";

        await SendAsync(path, new { title = "Hello" }, urgency);

        Assert.Equal(urgency, (await pushService.WaitForAsync(path)).Urgency);
    }

    [Fact]
    public async Task A_payload_of_3993_octets_is_one_4096_octet_record_that_the_browser_decrypts()
    {
        var path = $"/push/{Guid.NewGuid():N}";
        var payload = new string('a', WebPushSender.MaxPayloadLength - 2); // JSON adds the two quotes
        Assert.Equal(3993, WebPushSender.MaxPayloadLength);

        Assert.Equal(PushOutcome.Delivered, await SendAsync(path, payload));

        var request = await pushService.WaitForAsync(path);
        Assert.Equal(4096, request.Body.Length);
        Assert.Equal($"\"{payload}\"", Encoding.UTF8.GetString(PushDecryption.Decrypt(request.Body, browser, auth)));
    }

    [Fact]
    public async Task A_payload_of_3994_octets_is_refused_before_anything_is_sent()
    {
        var path = $"/push/{Guid.NewGuid():N}";

        var refusal = await Assert.ThrowsAsync<PermanentJobException>(() => SendAsync(path, new string('a', 3992)));

        Assert.Contains("3994 octets", refusal.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(pushService.Received, r => r.Path == path);
    }

    [Theory]
    [InlineData(HttpStatusCode.Created, PushOutcome.Delivered)]
    [InlineData(HttpStatusCode.NoContent, PushOutcome.Delivered)]
    [InlineData(HttpStatusCode.NotFound, PushOutcome.Gone)]
    [InlineData(HttpStatusCode.Gone, PushOutcome.Gone)]
    [InlineData(HttpStatusCode.TooManyRequests, PushOutcome.Retry)]
    [InlineData(HttpStatusCode.InternalServerError, PushOutcome.Retry)]
    [InlineData(HttpStatusCode.ServiceUnavailable, PushOutcome.Retry)]
    [InlineData(HttpStatusCode.BadRequest, PushOutcome.Rejected)]
    [InlineData(HttpStatusCode.Forbidden, PushOutcome.Rejected)]
    [InlineData(HttpStatusCode.RequestEntityTooLarge, PushOutcome.Rejected)]
    public async Task The_push_service_status_decides_the_outcome(HttpStatusCode status, PushOutcome expected)
    {
        // A 429 comes with Retry-After: 3600. The job engine's backoff retries it; the library's own
        // retry would sleep an hour inside the job, so the attempt must end at once.
        using var soon = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        soon.CancelAfter(TimeSpan.FromSeconds(10));
        var clock = Stopwatch.StartNew();

        Assert.Equal(expected, await SendAsync($"/status/{(int)status}/{Guid.NewGuid():N}", new { title = "Hello" }, cancellationToken: soon.Token));
        Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(10));
    }

    [Fact]
    public void A_public_key_that_is_not_the_private_keys_fails_at_load()
    {
        var other = NewKeyPair();
        var keys = new VapidKeys(Options.Create(new WebPushOptions { PublicKey = other.Public, PrivateKey = vapid.Private }), new HostingEnvironment { EnvironmentName = "Production" });

        Assert.ThrowsAny<CryptographicException>(() => keys.PublicKey);
    }

    public void Dispose()
    {
        services.Dispose();
        browser.Dispose();
    }

    private Task<PushOutcome> SendAsync(string path, object payload, string urgency = "normal", CancellationToken? cancellationToken = null)
    {
        var keys = new VapidKeys(Options.Create(new WebPushOptions { PublicKey = vapid.Public, PrivateKey = vapid.Private }), new HostingEnvironment { EnvironmentName = "Production" });
        var sender = new WebPushSender(services.GetRequiredService<IHttpMessageHandlerFactory>(), keys, Options.Create(new WebPushOptions { Subject = "mailto:ops@holdfast.example" }));
        return sender.SendAsync(new Uri($"{pushService.Origin}{path}"), PushDecryption.Export(browser), auth, payload, 60, urgency, cancellationToken ?? TestContext.Current.CancellationToken);
    }

    private static (string Public, string Private) NewKeyPair()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var parameters = key.ExportParameters(includePrivateParameters: true);
        return (WebEncoders.Base64UrlEncode([0x04, .. parameters.Q.X!, .. parameters.Q.Y!]), WebEncoders.Base64UrlEncode(parameters.D!));
    }
}

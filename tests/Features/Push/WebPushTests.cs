using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Holdfast.Infrastructure.WebPush;
using Holdfast.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.DependencyInjection;

namespace Holdfast.Tests.Features.Push;

public sealed class WebPushTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    private TestApp App => fixture.App;

    private sealed record Received(string Path, string Authorization, string Ttl, string Urgency, string ContentEncoding, byte[] Body);

    [Fact]
    public async Task A_reminder_reaches_the_browser_through_its_push_service_and_a_gone_subscription_is_dropped()
    {
        var received = new ConcurrentQueue<Received>();
        await using var pushService = await StartPushServiceAsync(received);
        // After start, the address holds the port Kestrel picked.
        var origin = pushService.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single().TrimEnd('/');
        var (customer, userId) = await App.CustomerAsync();
        using var browser = ECDiffieHellman.Create(ECCurve.NamedCurves.nistP256);
        var auth = RandomNumberGenerator.GetBytes(16);
        var keys = new { p256dh = WebEncoders.Base64UrlEncode(P256.Export(browser)), auth = WebEncoders.Base64UrlEncode(auth) };
        await customer.PostAsJsonAsync("/push/subscriptions", new { endpoint = $"{origin}/push/browser-1", keys }).ExpectAsync(HttpStatusCode.Created);
        await customer.PostAsJsonAsync("/push/subscriptions", new { endpoint = $"{origin}/gone/old-browser", keys }).ExpectAsync(HttpStatusCode.Created);

        var show = await TestCatalogue.ShowAsync(App.DataSource, startsAt: DateTimeOffset.UtcNow.AddHours(3).AddSeconds(2));
        var hold = await customer.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "3C" } }).ExpectAsync(HttpStatusCode.Created);
        await customer.PostAsync($"/holds/{hold["hold_id"]}/booking", null).ExpectAsync(HttpStatusCode.Created);

        var push = await WaitAsync(received, r => r.Path.StartsWith("/push/", StringComparison.Ordinal));
        var claims = PushDecryption.VerifyVapid(push.Authorization);
        Assert.NotNull(claims);
        Assert.Equal(origin, claims!["aud"]!.GetValue<string>());
        Assert.Equal(("86400", "normal", "aes128gcm"), (push.Ttl, push.Urgency, push.ContentEncoding));
        var message = JsonNode.Parse(PushDecryption.Decrypt(push.Body, browser, auth))!;
        Assert.StartsWith("Reminder: Test film", message["title"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Contains("seats 3C", message["body"]!.GetValue<string>(), StringComparison.Ordinal);

        await Eventually.EqualAsync(1L, async () =>
        {
            await using var command = App.DataSource.CreateCommand($"select count(*) from push_subscription where app_user_id = {userId}");
            return (long)(await command.ExecuteScalarAsync())!;
        });
    }

    [Fact]
    public async Task Subscriptions_are_validated_and_the_public_key_is_published()
    {
        using var anonymous = App.CreateClient();
        var key = await anonymous.GetAsync("/push/vapid-public-key").ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(65, WebEncoders.Base64UrlDecode(key["public_key"]!.GetValue<string>()).Length);

        var (customer, _) = await App.CustomerAsync();
        var problem = await customer.PostAsJsonAsync("/push/subscriptions", new { endpoint = "https://push.example/x", keys = new { p256dh = "AAAA", auth = "short" } })
            .ExpectAsync(HttpStatusCode.BadRequest);
        Assert.True(problem["errors"]!.AsObject().ContainsKey("keys.p256dh"));
        Assert.True(problem["errors"]!.AsObject().ContainsKey("keys.auth"));
        await customer.DeleteAsync("/push/subscriptions?endpoint=https%3A%2F%2Fpush.example%2Fx").ExpectAsync(HttpStatusCode.NoContent);
    }

    private static async Task<Received> WaitAsync(ConcurrentQueue<Received> received, Func<Received, bool> match)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            if (received.FirstOrDefault(match) is { } found)
            {
                return found;
            }

            Assert.True(DateTime.UtcNow < deadline, "No push arrived at the push service.");
            await Task.Delay(50);
        }
    }

    private static async Task<WebApplication> StartPushServiceAsync(ConcurrentQueue<Received> received)
    {
        var builder = WebApplication.CreateSlimBuilder();
        var service = builder.Build();
        service.Urls.Add("http://127.0.0.1:0");
        async Task Record(HttpContext http, int status)
        {
            using var body = new MemoryStream();
            await http.Request.Body.CopyToAsync(body);
            received.Enqueue(new Received(http.Request.Path, http.Request.Headers.Authorization.ToString(), http.Request.Headers["TTL"].ToString(),
                http.Request.Headers["Urgency"].ToString(), http.Request.Headers.ContentEncoding.ToString(), body.ToArray()));
            http.Response.StatusCode = status;
        }

        service.MapPost("/push/{id}", (HttpContext http) => Record(http, StatusCodes.Status201Created));
        service.MapPost("/gone/{id}", (HttpContext http) => Record(http, StatusCodes.Status410Gone));
        await service.StartAsync();
        return service;
    }
}

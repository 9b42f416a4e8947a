using System.Collections.Concurrent;
using System.Net;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Holdfast.Tests.Infrastructure;

/// <summary>
/// Twilio's Messages API on a loopback port, as far as Holdfast uses it:
/// <c>POST /2010-04-01/Accounts/{sid}/Messages.json</c> with HTTP basic authentication (the account
/// SID and auth token) and form fields <c>To</c>, <c>Body</c> and <c>From</c> or
/// <c>MessagingServiceSid</c>. A request with wrong credentials gets 401 and one without the fields
/// 400 (code 21604, as Twilio answers), and neither is recorded; a good one is recorded and
/// answered 201 with a message resource. <see cref="FailNext"/> makes the next send fail.
/// </summary>
public sealed class FakeTwilio : IAsyncDisposable
{
    public const string AccountSid = "AC00000000000000000000000000000001";
    public const string AuthToken = "fake-twilio-auth-token";
    public const string From = "+15005550006";

    private readonly WebApplication app;

    private FakeTwilio(WebApplication app, Uri baseUrl)
    {
        this.app = app;
        BaseUrl = baseUrl;
    }

    /// <summary><c>http://127.0.0.1:port</c>.</summary>
    public Uri BaseUrl { get; }

    /// <summary>Every accepted message, in order.</summary>
    public ConcurrentQueue<Sent> Messages { get; } = new();

    /// <summary>Requests refused for credentials or fields, as "status: reason".</summary>
    public ConcurrentQueue<string> Refused { get; } = new();

    /// <summary>Status and Twilio error code for the next request (then back to normal), e.g. (400, 21211) or (503, 0).</summary>
    public (int Status, int Code)? FailNext { get; set; }

    /// <summary>An accepted message.</summary>
    /// <param name="To">The To field.</param>
    /// <param name="From">The From field, if any.</param>
    /// <param name="MessagingServiceSid">The MessagingServiceSid field, if any.</param>
    /// <param name="Body">The Body field.</param>
    public sealed record Sent(string To, string? From, string? MessagingServiceSid, string Body);

    public static async Task<FakeTwilio> StartAsync()
    {
        FakeTwilio? self = null;
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { EnvironmentName = "Development" });
        builder.WebHost.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        var app = builder.Build();
        app.MapPost("/2010-04-01/Accounts/{sid}/Messages.json", async (string sid, HttpRequest request) =>
        {
            var expected = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{AccountSid}:{AuthToken}"));
            if (sid != AccountSid || request.Headers.Authorization.ToString() != expected)
            {
                self!.Refused.Enqueue("401: credentials");
                return Error(401, 20003, "Authenticate");
            }

            if (self!.FailNext is { } failure)
            {
                self.FailNext = null;
                return Error(failure.Status, failure.Code, "Failure on request");
            }

            var form = request.HasFormContentType ? await request.ReadFormAsync() : null;
            var (to, body, from, service) = (form?["To"].ToString(), form?["Body"].ToString(), form?["From"].ToString(), form?["MessagingServiceSid"].ToString());
            if (string.IsNullOrEmpty(to) || string.IsNullOrEmpty(body) || string.IsNullOrEmpty(from) == string.IsNullOrEmpty(service))
            {
                self.Refused.Enqueue("400: fields");
                return Error(400, 21604, "A 'To', a 'Body' and one of 'From' and 'MessagingServiceSid' are required.");
            }

            self.Messages.Enqueue(new Sent(to, string.IsNullOrEmpty(from) ? null : from, string.IsNullOrEmpty(service) ? null : service, body));
            var segments = Holdfast.Infrastructure.Sms.SmsText.Measure(body).Segments;
            return Results.Json(new Dictionary<string, object?>
            {
                ["sid"] = $"SM{Guid.NewGuid():N}",
                ["status"] = "queued",
                ["to"] = to,
                ["body"] = body,
                ["num_segments"] = segments.ToString(System.Globalization.CultureInfo.InvariantCulture),
            }, statusCode: 201);
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        self = new FakeTwilio(app, new Uri(address));
        return self;
    }

    /// <summary>Waits for a message to <paramref name="to"/> whose body contains <paramref name="contains"/>.</summary>
    public async Task<Sent> WaitForAsync(string to, string contains)
    {
        Sent? found = null;
        await Eventually.EqualAsync(true, () =>
        {
            found = Messages.FirstOrDefault(m => m.To == to && m.Body.Contains(contains, StringComparison.Ordinal));
            return Task.FromResult(found is not null);
        }, explain: () => $"No SMS to {to} containing '{contains}'; got: {string.Join(" | ", Messages.Select(m => $"{m.To}: {m.Body}"))}");
        return found!;
    }

    private static IResult Error(int status, int code, string message) =>
        Results.Json(new Dictionary<string, object?> { ["code"] = code, ["message"] = message, ["status"] = status }, statusCode: status);

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await app.DisposeAsync();
    }
}

using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Holdfast.Tests.Infrastructure;

/// <summary>
/// A stand-in push service (RFC 8030) on a random loopback port, recording every request. It answers
/// <c>/push/…</c> with 201, <c>/gone/…</c> with 410, and <c>/status/{code}/…</c> with that code
/// (429 with <c>Retry-After: 3600</c>).
/// </summary>
public sealed class PushService : IAsyncLifetime
{
    private WebApplication? service;

    public sealed record Request(string Path, string Authorization, string Ttl, string Urgency, string ContentEncoding, byte[] Body);

    public ConcurrentQueue<Request> Received { get; } = new();

    /// <summary><c>http://127.0.0.1:port</c>, the port Kestrel picked.</summary>
    public string Origin { get; private set; } = "";

    public async ValueTask InitializeAsync()
    {
        service = WebApplication.CreateSlimBuilder().Build();
        service.Urls.Add("http://127.0.0.1:0");
        service.MapPost("/push/{id}", (HttpContext http) => RecordAsync(http, StatusCodes.Status201Created));
        service.MapPost("/gone/{id}", (HttpContext http) => RecordAsync(http, StatusCodes.Status410Gone));
        service.MapPost("/status/{code:int}/{id}", (HttpContext http, int code) => RecordAsync(http, code));
        await service.StartAsync();
        Origin = service.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single().TrimEnd('/');
    }

    /// <summary>Waits for a request whose path starts with <paramref name="pathPrefix"/>.</summary>
    public async Task<Request> WaitForAsync(string pathPrefix)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            if (Received.FirstOrDefault(r => r.Path.StartsWith(pathPrefix, StringComparison.Ordinal)) is { } found)
            {
                return found;
            }

            Assert.True(DateTime.UtcNow < deadline, $"No push to {pathPrefix} arrived at the push service.");
            await Task.Delay(50);
        }
    }

    private async Task RecordAsync(HttpContext http, int status)
    {
        using var body = new MemoryStream();
        await http.Request.Body.CopyToAsync(body);
        Received.Enqueue(new Request(http.Request.Path, http.Request.Headers.Authorization.ToString(), http.Request.Headers["TTL"].ToString(),
            http.Request.Headers["Urgency"].ToString(), http.Request.Headers.ContentEncoding.ToString(), body.ToArray()));
        if (status == StatusCodes.Status429TooManyRequests)
        {
            http.Response.Headers.RetryAfter = "3600";
        }

        http.Response.StatusCode = status;
    }

    public async ValueTask DisposeAsync()
    {
        if (service is not null)
        {
            await service.DisposeAsync();
        }
    }
}

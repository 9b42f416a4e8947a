using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Holdfast.Tests.Browser;

/// <summary>
/// A web server of its own for the test pages in tests/Browser/Pages, playing a web shop on another
/// origin than the API: Kestrel on two free ports of 127.0.0.1, so the same page can be loaded from two
/// origins (<see cref="AllowedOrigin"/>, which the API's <c>Cors:Origins</c> names, and
/// <see cref="OtherOrigin"/>, which it does not). Serves the files as they are, nothing else.
/// </summary>
public sealed class PageServer : IAsyncDisposable
{
    private readonly WebApplication app;

    private PageServer(WebApplication app, string allowedOrigin, string otherOrigin)
    {
        this.app = app;
        AllowedOrigin = allowedOrigin;
        OtherOrigin = otherOrigin;
    }

    /// <summary>The origin (<c>http://127.0.0.1:port</c>) the API is configured to allow.</summary>
    public string AllowedOrigin { get; }

    /// <summary>A second origin of the same server, not allowed by the API.</summary>
    public string OtherOrigin { get; }

    public static async Task<PageServer> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(kestrel =>
        {
            kestrel.Listen(IPAddress.Loopback, 0);
            kestrel.Listen(IPAddress.Loopback, 0);
        });
        var app = builder.Build();
        var pages = Path.Combine(AppContext.BaseDirectory, "Browser", "Pages");
        app.MapGet("/{page}.html", (string page) =>
        {
            var path = Path.Combine(pages, page + ".html");
            return page.All(c => char.IsAsciiLetterOrDigit(c) || c == '-') && File.Exists(path)
                ? Results.File(path, "text/html; charset=utf-8")
                : Results.NotFound();
        });
        await app.StartAsync();
        var origins = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses
            .Select(address => new Uri(address).GetLeftPart(UriPartial.Authority)).ToList();
        Assert.Equal(2, origins.Count);
        return new PageServer(app, origins[0], origins[1]);
    }

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await app.DisposeAsync();
    }
}

using Holdfast.Tests.Infrastructure;
using Microsoft.Playwright;

namespace Holdfast.Tests.Browser;

/// <summary>
/// What a browser test needs, once per test class: the app on a real loopback port over its own fresh
/// database (<see cref="TestApp.Address"/>), with CORS allowing the page server's first origin; the page
/// server (<see cref="Pages"/>); and Debian's Chromium, headless (<see cref="Chromium"/>). Each test
/// opens its own <see cref="NewPageAsync">browser context</see>, so tests share no cookies or storage.
/// </summary>
public class BrowserFixture : AppFixture
{
    private PageServer? pages;
    private IPlaywright? playwright;
    private IBrowser? browser;

    public PageServer Pages => pages ?? throw new InvalidOperationException("Fixture not started.");

    /// <summary>The API's address as a page script calls it, e.g. <c>http://127.0.0.1:41234</c>.</summary>
    public string ApiOrigin => App.Address!.GetLeftPart(UriPartial.Authority);

    protected override bool OnLoopbackPort => true;

    /// <summary>The pages' first origin is the web shop the API serves; override to configure another.</summary>
    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?> { ["Cors:Origins:0"] = Pages.AllowedOrigin };

    public override async ValueTask InitializeAsync()
    {
        // The page server first: the app's CORS settings name its origin.
        pages = await PageServer.StartAsync();
        (playwright, browser) = await Chromium.LaunchAsync();
        await base.InitializeAsync();
    }

    /// <summary>A page in a new, empty browser context; closed with the context when disposed.</summary>
    public async Task<BrowserPage> NewPageAsync()
    {
        var context = await (browser ?? throw new InvalidOperationException("Fixture not started.")).NewContextAsync();
        context.SetDefaultTimeout((float)Chromium.Patience.TotalMilliseconds);
        return new BrowserPage(context, await context.NewPageAsync());
    }

    public override async ValueTask DisposeAsync()
    {
        if (browser is not null)
        {
            await browser.DisposeAsync();
        }

        playwright?.Dispose();
        if (pages is not null)
        {
            await pages.DisposeAsync();
        }

        await base.DisposeAsync();
        GC.SuppressFinalize(this);
    }
}

/// <summary>A page and the browser context that owns it.</summary>
public sealed class BrowserPage(IBrowserContext context, IPage page) : IAsyncDisposable
{
    public IPage Page { get; } = page;

    /// <summary>
    /// Chromium's own record of the requests the page sends, CORS preflights among them (which
    /// Playwright's request events leave out: the browser's network service makes them), read through
    /// the DevTools protocol's Network domain. Start before the page acts.
    /// </summary>
    public async Task<SentRequests> RecordRequestsAsync()
    {
        var session = await context.NewCDPSessionAsync(Page);
        var sent = new SentRequests();
        session.Event("Network.requestWillBeSent").OnEvent += (_, e) =>
        {
            if (e is { } json)
            {
                var request = json.GetProperty("request");
                sent.Add(new SentRequest(
                    json.TryGetProperty("type", out var type) ? type.GetString() ?? "" : "",
                    request.GetProperty("method").GetString()!,
                    request.GetProperty("url").GetString()!));
            }
        };
        await session.SendAsync("Network.enable");
        return sent;
    }

    public ValueTask DisposeAsync() => context.DisposeAsync();
}

/// <summary>
/// One request as Chromium's DevTools protocol reports it: resource type (<c>Document</c>, <c>Fetch</c>;
/// Chromium 156 reports a CORS preflight as <c>Other</c>, method <c>OPTIONS</c>), method, URL.
/// </summary>
public sealed record SentRequest(string Type, string Method, string Url);

/// <summary>The requests a page has sent so far (<see cref="BrowserPage.RecordRequestsAsync"/>); safe to read while more arrive.</summary>
public sealed class SentRequests
{
    private readonly Lock gate = new();
    private readonly List<SentRequest> requests = [];
    private readonly List<(Func<SentRequest, bool> Match, TaskCompletionSource<SentRequest> Seen)> waiters = [];

    internal void Add(SentRequest request)
    {
        lock (gate)
        {
            requests.Add(request);
            foreach (var waiter in waiters.Where(w => w.Match(request)).ToList())
            {
                waiter.Seen.TrySetResult(request);
                waiters.Remove(waiter);
            }
        }
    }

    /// <summary>The first request that matches, sent already or yet to come; fails after <see cref="Chromium.Patience"/> with what was sent.</summary>
    public async Task<SentRequest> WaitForAsync(Func<SentRequest, bool> match)
    {
        var seen = new TaskCompletionSource<SentRequest>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (gate)
        {
            if (requests.FirstOrDefault(match) is { } already)
            {
                return already;
            }

            waiters.Add((match, seen));
        }

        try
        {
            return await seen.Task.WaitAsync(Chromium.Patience);
        }
        catch (TimeoutException)
        {
            Assert.Fail($"No such request within {Chromium.Patience.TotalSeconds} s; the page sent: {this}");
            throw;
        }
    }

    public override string ToString()
    {
        lock (gate)
        {
            return string.Join("; ", requests.Select(r => $"{r.Type} {r.Method} {r.Url}"));
        }
    }
}

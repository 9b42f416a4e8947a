using Microsoft.Playwright;

namespace Holdfast.Tests.Browser;

/// <summary>
/// Debian's Chromium (<see cref="ExecutablePath"/>, installed by scripts/test.sh) driven through
/// Playwright for .NET (decision 0022). Nothing is downloaded: Playwright's driver (its bundled Node.js
/// and JavaScript package) comes in the Microsoft.Playwright NuGet package, and the browser is the one at
/// <see cref="ExecutablePath"/>, never one of Playwright's own builds (no <c>playwright install</c>).
/// </summary>
public static class Chromium
{
    /// <summary>Debian's <c>chromium</c> package puts its launcher here.</summary>
    public const string ExecutablePath = "/usr/bin/chromium";

    /// <summary>
    /// How Chromium must start on these machines (the machine notes): headless without a sandbox or a
    /// GPU, and with none of its own network traffic (first-run, background networking, component
    /// updates, sync, QUIC), which the closed network refuses. Playwright gives every launch a new empty
    /// profile folder itself (a <c>--user-data-dir</c> here would be refused).
    /// </summary>
    public static readonly IReadOnlyList<string> Flags =
    [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ];

    /// <summary>How long a browser test waits for a page to reach a state: long enough for a busy two-core machine.</summary>
    public static TimeSpan Patience { get; } = TimeSpan.FromSeconds(30);

    /// <summary>Starts Playwright's driver and launches Debian's Chromium headless.</summary>
    public static async Task<(IPlaywright Playwright, IBrowser Browser)> LaunchAsync()
    {
        Assert.True(File.Exists(ExecutablePath),
            $"{ExecutablePath} is missing: the browser tests use Debian's chromium package (scripts/test.sh installs it: apt-get install -y chromium).");
        var playwright = await Playwright.CreateAsync();
        try
        {
            var browser = await playwright.Chromium.LaunchAsync(new()
            {
                ExecutablePath = ExecutablePath,
                Headless = true,
                ChromiumSandbox = false,
                Args = Flags,
                Timeout = (float)Patience.TotalMilliseconds,
            });
            return (playwright, browser);
        }
        catch
        {
            playwright.Dispose();
            throw;
        }
    }
}

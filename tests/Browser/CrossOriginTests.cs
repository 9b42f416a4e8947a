using System.Text.RegularExpressions;
using Holdfast.Tests.Infrastructure;
using Microsoft.Playwright;

namespace Holdfast.Tests.Browser;

/// <summary>
/// A web page on another origin calls the API from a real browser (issue 12): Chromium makes the CORS
/// preflights and enforces the answers, not a test client that imitates them.
/// </summary>
public sealed class CrossOriginTests(BrowserFixture fixture) : IClassFixture<BrowserFixture>
{
    private TestApp App => fixture.App;

    /// <summary>Opens tests/Browser/Pages/shop.html from <paramref name="origin"/>, pointed at the API, and clicks "Hold two seats".</summary>
    private async Task<(string Email, TestShow Show)> HoldTwoSeatsFromAsync(IPage page, string origin)
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource);
        var title = await App.DataSource.ScalarAsync<string>("select title from event where event_id = $1", show.EventId);
        var email = $"browser{Guid.NewGuid():N}@example.com";
        var query = $"api={Uri.EscapeDataString(fixture.ApiOrigin)}&email={Uri.EscapeDataString(email)}&title={Uri.EscapeDataString(title)}";
        await page.GotoAsync($"{origin}/shop.html?{query}");
        await page.GetByRole(AriaRole.Button, new() { Name = "Hold two seats" }).ClickAsync();
        // The page marks itself done when its calls have succeeded or one has failed.
        await page.Locator("body[data-done]").WaitForAsync();
        return (email, show);
    }

    [Fact]
    public async Task A_page_on_an_allowed_origin_registers_searches_and_holds_seats()
    {
        await using var browser = await fixture.NewPageAsync();
        var sent = await browser.RecordRequestsAsync();
        var (email, show) = await HoldTwoSeatsFromAsync(browser.Page, fixture.Pages.AllowedOrigin);

        Assert.Equal("", await browser.Page.Locator("#error").TextContentAsync());
        var holdText = await browser.Page.Locator("#hold-id").TextContentAsync();
        Assert.Matches(new Regex("^[0-9]+$"), holdText);
        var holdId = long.Parse(holdText!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(show.ShowId.ToString(System.Globalization.CultureInfo.InvariantCulture), await browser.Page.Locator("#show-id").TextContentAsync());
        // Location is an exposed header: a script on another origin can read it only because CORS says so.
        Assert.Equal($"/holds/{holdId}", await browser.Page.Locator("#hold-location").TextContentAsync());

        // The browser asked first (a JSON body and an Authorization header are not "simple"), and went on.
        var holds = $"{fixture.ApiOrigin}/shows/{show.ShowId}/holds";
        await sent.WaitForAsync(r => r.Method == "OPTIONS" && r.Url == holds);
        await sent.WaitForAsync(r => r is { Type: "Fetch", Method: "POST" } && r.Url == holds);

        // The hold is real: two standard seats of that show, active, for the account the page registered.
        Assert.Equal(2, await App.DataSource.ScalarAsync<int>("""
            select h.seat_count from hold h join app_user u on u.app_user_id = h.app_user_id
            where h.hold_id = $1 and h.show_id = $2 and h.status = 'active' and u.email = $3
            """, holdId, show.ShowId, email));
        Assert.Equal(2, await App.DataSource.ScalarAsync<long>(
            "select count(*) from show_seat where show_id = $1 and state = 'held'", show.ShowId));
    }

    [Fact]
    public async Task A_page_on_another_origin_is_refused_by_the_browser()
    {
        await using var browser = await fixture.NewPageAsync();
        var sent = await browser.RecordRequestsAsync();
        var blocked = browser.Page.WaitForConsoleMessageAsync(new() { Predicate = message => message.Text.Contains("blocked by CORS policy", StringComparison.Ordinal) });
        var (email, show) = await HoldTwoSeatsFromAsync(browser.Page, fixture.Pages.OtherOrigin);

        // fetch rejects with a TypeError that tells the script nothing; the console tells the developer why.
        Assert.Equal("Failed to fetch", await browser.Page.Locator("#error").TextContentAsync());
        Assert.Equal("", await browser.Page.Locator("#hold-id").TextContentAsync());
        var message = (await blocked).Text;
        Assert.Contains($"'{fixture.ApiOrigin}/auth/register'", message, StringComparison.Ordinal);
        Assert.Contains($"from origin '{fixture.Pages.OtherOrigin}'", message, StringComparison.Ordinal);

        // The browser asked, the answer named no origin, so it never sent the registration itself.
        await sent.WaitForAsync(r => r.Method == "OPTIONS" && r.Url == $"{fixture.ApiOrigin}/auth/register");
        Assert.Equal(0L, await App.DataSource.ScalarAsync<long>("select count(*) from app_user where email = $1", email));
        Assert.Equal(0L, await App.DataSource.ScalarAsync<long>("select count(*) from hold where show_id = $1", show.ShowId));
    }
}

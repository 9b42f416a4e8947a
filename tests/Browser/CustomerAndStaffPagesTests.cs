using System.Net;
using System.Net.Http.Json;
using Holdfast.Tests.Features.Boarding;
using Holdfast.Tests.Infrastructure;
using Microsoft.Playwright;
using OtpNet;

namespace Holdfast.Tests.Browser;

/// <summary>
/// The customer page and the staff page, in a real browser (issue 14): search → N seats together →
/// hold → pay → my bookings (live) → the ticket's QR code decoded → admitted at the staff page, which
/// counts it live → a second scan refused.
/// </summary>
public sealed class CustomerAndStaffPagesTests(BrowserFixture fixture) : IClassFixture<BrowserFixture>
{
    private TestApp App => fixture.App;

    private string Page(string path) => $"{fixture.ApiOrigin}/{path}";

    [Fact]
    public async Task A_customer_books_two_seats_together_and_staff_admit_the_ticket_once()
    {
        var (organizer, organizerId, staffClient, _) = await Boarding.OrganizerWithStaffAsync(App);
        var show = await TestCatalogue.ShowAsync(App.DataSource, rows: 3, seatsPerRow: 4, premiumRows: 0, startsAt: DateTimeOffset.UtcNow.AddMinutes(30), ownerId: organizerId);
        var title = await App.DataSource.ScalarAsync<string>("select title from event where event_id = $1", show.EventId);
        // Someone else holds 1B: the page still gets two seats.
        var (other, _) = await App.CustomerAsync();
        await other.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "1B" } }).ExpectAsync(HttpStatusCode.Created);

        await using var customer = await fixture.NewPageAsync();
        var page = customer.Page;
        await page.GotoAsync(Page(""));
        await page.GetByRole(AriaRole.Button, new() { Name = "Register demo user" }).ClickAsync();
        await page.Locator("#mine-conn[data-state='live']").WaitForAsync();

        // The film is now showing, with the poster its organizer uploaded (the test catalogue's events have no owner: given here).
        await App.DataSource.ScalarAsync<int>("with e as (update event set owner_app_user_id = $1 where event_id = $2 returning 1) select count(*)::int from e", organizerId, show.EventId);
        using (var poster = new ByteArrayContent(Holdfast.Features.Boarding.Tickets.Png("poster")))
        {
            poster.Headers.ContentType = new("image/png");
            await organizer.PutAsync($"/events/{show.EventId}/poster", poster).ExpectAsync(HttpStatusCode.OK);
        }

        await page.ReloadAsync();
        var showing = page.Locator("#now-showing .poster", new() { HasText = title });
        await showing.Locator("img").WaitForAsync();
        Assert.StartsWith("/posters/", await showing.Locator("img").GetAttributeAsync("src"), StringComparison.Ordinal);
        Assert.True(await showing.Locator("img").EvaluateAsync<bool>("img => img.complete && img.naturalWidth > 0"));

        // Search by kind, any date; open the show from the results.
        await page.Locator("#search input[name='date']").FillAsync("");
        await page.Locator("#search select[name='kind']").SelectOptionAsync("film");
        await page.GetByRole(AriaRole.Button, new() { Name = "Search", Exact = true }).ClickAsync();
        await page.Locator(".result", new() { HasText = title }).ClickAsync();
        await page.Locator("#map .seat").First.WaitForAsync();

        // Two seats together, paid with the test Visa card.
        await page.Locator("#together-qty").FillAsync("2");
        await page.Locator("#together-cat").SelectOptionAsync("standard");
        await page.GetByRole(AriaRole.Button, new() { Name = "Hold together" }).ClickAsync();
        await page.Locator("#hold:not([hidden])").WaitForAsync();
        Assert.Matches("^Holding [0-9A-Z]+, [0-9A-Z]+ — ", await page.Locator("#hold-summary").TextContentAsync());
        Assert.Matches("^[0-9]+:[0-5][0-9]$", await page.Locator("#countdown").TextContentAsync());
        await page.Locator("#card").SelectOptionAsync("pm_card_visa");
        await page.GetByRole(AriaRole.Button, new() { Name = "Book and pay" }).ClickAsync();
        await page.Locator("#booking-msg", new() { HasText = "Booked!" }).WaitForAsync();

        // My bookings shows it confirmed (reloaded by the live stream), with its tickets.
        var item = page.Locator(".booking-item[data-status='confirmed']", new() { HasText = title });
        await item.WaitForAsync();
        await item.GetByRole(AriaRole.Button, new() { Name = "Tickets" }).ClickAsync();
        var tickets = page.Locator("#tickets .ticket");
        await tickets.Nth(1).Locator("img").WaitForAsync();
        Assert.Equal(2, await tickets.CountAsync());
        var code = await tickets.First.GetAttributeAsync("data-code");
        // The QR code the browser shows, read back as the PNG it loaded, decodes to the ticket's code.
        var png = Convert.FromBase64String(await tickets.First.Locator("img").EvaluateAsync<string>("""
            async img => {
              const bytes = new Uint8Array(await (await fetch(img.src)).arrayBuffer());
              let text = '';
              for (const b of bytes) text += String.fromCharCode(b);
              return btoa(text);
            }
            """));
        Assert.Equal(code, Boarding.DecodeQr(png));

        // Staff sign in with a second factor (a recovery code), open the show and scan.
        var staffEmail = await App.DataSource.ScalarAsync<string>("select u.email from organizer_staff s join app_user u on u.app_user_id = s.staff_user_id where s.organizer_user_id = $1", organizerId);
        var enrolment = await staffClient.PostAsync("/auth/2fa/enrol", null).ExpectAsync(HttpStatusCode.OK);
        var secret = Base32Encoding.ToBytes(enrolment["secret"]!.GetValue<string>());
        var confirmed = await staffClient.PostAsJsonAsync("/auth/2fa/confirm", new { code = new Totp(secret).ComputeTotp() }).ExpectAsync(HttpStatusCode.OK);
        var recovery = confirmed["recovery_codes"]![0]!.GetValue<string>();

        await using var desk = await fixture.NewPageAsync();
        var staff = desk.Page;
        await staff.GotoAsync(Page("staff.html"));
        await staff.Locator("#auth-form input[name='email']").FillAsync(staffEmail);
        await staff.Locator("#auth-form input[name='password']").FillAsync("correct horse battery");
        await staff.GetByRole(AriaRole.Button, new() { Name = "Log in" }).ClickAsync();
        await staff.Locator("#mfa-form input[name='code']").FillAsync(recovery);
        await staff.GetByRole(AriaRole.Button, new() { Name = "Verify" }).ClickAsync();
        await staff.Locator("#show-form input[name='show']").FillAsync(show.ShowId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await staff.Locator("#show-form input[name='device']").FillAsync("gate 2");
        await staff.GetByRole(AriaRole.Button, new() { Name = "Open" }).ClickAsync();
        await staff.Locator("#feed-conn[data-state='live']").WaitForAsync();
        Assert.Equal(("0", "2"), (await staff.Locator("#admitted").TextContentAsync(), await staff.Locator("#expected").TextContentAsync()));
        Assert.Equal(2, await staff.Locator("#manifest tr[data-status='valid']").CountAsync());

        await staff.Locator("#scan-form input[name='code']").FillAsync(code!);
        await staff.GetByRole(AriaRole.Button, new() { Name = "Check in" }).ClickAsync();
        await staff.Locator("#scan-result .admit", new() { HasText = "Admit: seat" }).WaitForAsync();
        // The count and the row come from the seat feed's checked_in event.
        await staff.Locator("#admitted", new() { HasText = "1" }).WaitForAsync();
        Assert.Equal(1, await staff.Locator("#manifest tr[data-status='checked_in']").CountAsync());

        await staff.Locator("#scan-form input[name='code']").FillAsync(code!);
        await staff.GetByRole(AriaRole.Button, new() { Name = "Check in" }).ClickAsync();
        var refused = staff.Locator("#scan-result .problem");
        await refused.WaitForAsync();
        Assert.Contains("Ticket already checked in.", await refused.TextContentAsync(), StringComparison.Ordinal);
        Assert.Contains("gate 2", await refused.TextContentAsync(), StringComparison.Ordinal);
        Assert.Equal(1, await App.DataSource.ScalarAsync<int>("select count(*)::int from ticket where show_id = $1 and checked_in_at is not null", show.ShowId));
    }
}

using System.Net;
using System.Net.Http.Json;
using System.Text.RegularExpressions;
using Holdfast.Tests.Features.Notifications;
using Holdfast.Tests.Infrastructure;

namespace Holdfast.Tests.Features.Newsletter;

public sealed partial class NewsletterTests(SmtpFixture fixture) : IClassFixture<SmtpFixture>
{
    private TestApp App => fixture.App;

    [Fact]
    public async Task Double_opt_in_then_an_issue_with_one_click_unsubscribe()
    {
        using var anyone = App.CreateClient();
        var email = $"news{Guid.NewGuid():N}@example.com";
        var pending = $"pending{Guid.NewGuid():N}@example.com";
        await anyone.PostAsJsonAsync("/newsletter/subscriptions", new { email }).ExpectAsync(HttpStatusCode.Accepted);
        await anyone.PostAsJsonAsync("/newsletter/subscriptions", new { email = pending }).ExpectAsync(HttpStatusCode.Accepted);
        await anyone.PostAsJsonAsync("/newsletter/subscriptions", new { email = "not an email" }).ExpectAsync(HttpStatusCode.BadRequest);

        var confirmation = await fixture.Smtp.WaitForAsync(email, "Confirm your Holdfast newsletter subscription");
        var confirmPath = Link().Match(confirmation.TextBody!).Groups["path"].Value;
        Assert.Equal(confirmPath, Link().Match(confirmation.HtmlBody!).Groups["path"].Value);
        Assert.StartsWith("/newsletter/confirm?token=", confirmPath, StringComparison.Ordinal);
        await anyone.GetAsync(confirmPath.Replace("token=", "token=x", StringComparison.Ordinal)).ExpectAsync(HttpStatusCode.BadRequest);
        var confirmed = await anyone.GetAsync(confirmPath).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("confirmed", confirmed["state"]!.GetValue<string>());

        var admin = (await App.AdminAsync()).Client;
        var issue = await admin.PostAsJsonAsync("/admin/newsletters", new { subject = "November routes", body = "New: Honolulu to Los Angeles late flights.\n\nSee you aboard." })
            .ExpectAsync(HttpStatusCode.Accepted);
        var newsletter = await fixture.Smtp.WaitForAsync(email, "November routes");
        Assert.Equal("November routes", newsletter.Subject);
        Assert.Equal("List-Unsubscribe=One-Click", newsletter.Headers["List-Unsubscribe-Post"]);
        Assert.Contains("Honolulu to Los Angeles", newsletter.TextBody, StringComparison.Ordinal);
        Assert.DoesNotContain(fixture.Smtp.Messages(), m => SmtpServer.IsTo(m, pending) && m.Subject!.Contains("November routes", StringComparison.Ordinal));
        await Eventually.EqualAsync(("queued", 1, 1L), async () =>
        {
            var progress = await admin.GetAsync($"/admin/newsletters/{issue["issue_id"]}").ExpectAsync(HttpStatusCode.OK);
            return (progress["status"]!.GetValue<string>(), progress["queued"]!.GetValue<int>(), progress["sent"]!.GetValue<long>());
        });

        // GET shows a button and unsubscribes nobody; the one-click POST (RFC 8058) does.
        var unsubscribePath = UnsubscribeHeader().Match(newsletter.Headers["List-Unsubscribe"]!).Groups["path"].Value;
        using (var page = await anyone.GetAsync(unsubscribePath))
        {
            Assert.Contains("<form method=post>", await page.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        Assert.Equal("confirmed", await StateAsync(email));
        using var oneClick = new FormUrlEncodedContent([new("List-Unsubscribe", "One-Click")]);
        var result = await anyone.PostAsync(unsubscribePath, oneClick).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("unsubscribed", result["state"]!.GetValue<string>());
        Assert.Equal("unsubscribed", await StateAsync(email));
    }

    [Fact]
    public async Task An_organizer_notice_reaches_everyone_booked_by_email()
    {
        var (organizer, organizerId) = await App.OrganizerAsync();
        var show = await TestCatalogue.ShowAsync(App.DataSource, ownerId: organizerId);
        var emails = new List<string>();
        foreach (var seat in new[] { "1A", "2A" })
        {
            var email = $"pax{Guid.NewGuid():N}@example.com";
            using var customer = App.CreateClient();
            var registered = await customer.PostAsJsonAsync("/auth/register", new { email, password = "a long enough password" }).ExpectAsync(HttpStatusCode.Created);
            customer.DefaultRequestHeaders.Authorization = new("Bearer", registered["access_token"]!.GetValue<string>());
            var hold = await customer.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { seat } }).ExpectAsync(HttpStatusCode.Created);
            await customer.PostAsync($"/holds/{hold["hold_id"]}/booking", null).ExpectAsync(HttpStatusCode.Created);
            emails.Add(email);
        }

        var queued = await organizer.PostAsJsonAsync($"/shows/{show.ShowId}/notices", new { subject = "Delayed 40 minutes", message = "The projector is being replaced." })
            .ExpectAsync(HttpStatusCode.Accepted);

        Assert.Equal(2, queued["bookings"]!.GetValue<int>());
        foreach (var email in emails)
        {
            var notice = await fixture.Smtp.WaitForAsync(email, "Delayed 40 minutes");
            Assert.Contains("The projector is being replaced.", notice.TextBody, StringComparison.Ordinal);
        }
    }

    private Task<string> StateAsync(string email) =>
        App.DataSource.ScalarAsync<string>("select status from newsletter_subscriber where lower(email) = lower($1)", email);

    [GeneratedRegex(@"http://127\.0\.0\.1:8080(?<path>/newsletter/confirm\?token=[A-Za-z0-9_-]+)")]
    private static partial Regex Link();

    [GeneratedRegex(@"^<http://127\.0\.0\.1:8080(?<path>/newsletter/unsubscribe\?token=[A-Za-z0-9_-]+)>$")]
    private static partial Regex UnsubscribeHeader();
}

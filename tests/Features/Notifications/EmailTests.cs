using System.Net;
using System.Net.Http.Json;
using Holdfast.Features.Notifications;
using Holdfast.Tests.Infrastructure;

namespace Holdfast.Tests.Features.Notifications;

/// <summary>The app wired to a real SMTP server that the test run starts.</summary>
public sealed class SmtpFixture : AppFixture
{
    public SmtpServer Smtp { get; } = new();

    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        ["Email:Mode"] = "smtp",
        ["Email:Host"] = "127.0.0.1",
        ["Email:Port"] = Smtp.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Email:StartTls"] = "false",
    };

    public override async ValueTask InitializeAsync()
    {
        await Smtp.InitializeAsync();
        await base.InitializeAsync();
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        await Smtp.DisposeAsync();
    }
}

public sealed class EmailTests(SmtpFixture fixture) : IClassFixture<SmtpFixture>
{
    private TestApp App => fixture.App;

    [Fact]
    public async Task Registering_and_booking_send_emails_received_by_the_SMTP_server()
    {
        var email = $"mail{Guid.NewGuid():N}@example.com";
        using var client = App.CreateClient();
        var registered = await client.PostAsJsonAsync("/auth/register", new { email, password = "a long enough password", display_name = "Ada" }).ExpectAsync(HttpStatusCode.Created);
        client.DefaultRequestHeaders.Authorization = new("Bearer", registered["access_token"]!.GetValue<string>());

        var welcome = SmtpServer.Decode(await fixture.Smtp.WaitForAsync(email, "Welcome to Holdfast"));
        Assert.Contains("Hello Ada", welcome, StringComparison.Ordinal);

        await TestCatalogue.AirportAsync(App.DataSource, "HNL", "Honolulu", "United States", "Pacific/Honolulu");
        await TestCatalogue.AirportAsync(App.DataSource, "LAX", "Los Angeles", "United States", "America/Los_Angeles");
        var localDate = DateOnly.FromDateTime(DateTime.UtcNow.AddDays(4));
        var show = await TestCatalogue.ShowAsync(App.DataSource, kind: "flight", originIata: "HNL", destinationIata: "LAX", premiumRows: 0, timeZone: "Pacific/Honolulu", currency: "USD",
            startsAt: new DateTimeOffset(localDate.ToDateTime(new TimeOnly(21, 55)), TimeSpan.FromHours(-10)));
        var hold = await client.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "2A", "2B" } }).ExpectAsync(HttpStatusCode.Created);
        var booking = await client.PostAsync($"/holds/{hold["hold_id"]}/booking", null).ExpectAsync(HttpStatusCode.Created);

        var raw = await fixture.Smtp.WaitForAsync(email, $"Booking {booking["booking_id"]} confirmed");
        var confirmed = SmtpServer.Decode(raw);
        Assert.Contains("multipart/alternative", raw, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("text/html", raw, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("21:55 (Pacific/Honolulu, UTC-10:00)", confirmed, StringComparison.Ordinal);
        Assert.Contains("Seats: 2A, 2B", confirmed, StringComparison.Ordinal);
        Assert.Contains("Total: 40.00 USD", confirmed, StringComparison.Ordinal);
    }

    [Fact]
    public void Templates_format_money_by_exponent_and_carry_one_click_unsubscribe()
    {
        Assert.Equal("498.50 GBP", EmailTemplates.Money(49850, "GBP", 2));
        Assert.Equal("16800 JPY", EmailTemplates.Money(16800, "JPY", 0));
        Assert.Equal("1.250 BHD", EmailTemplates.Money(1250, "BHD", 3));
        var issue = EmailTemplates.Newsletter("a@example.com", "November", "New routes.\n\nNew films.", new Uri("https://holdfast.example/newsletter/unsubscribe?token=abc"));
        Assert.Equal("<https://holdfast.example/newsletter/unsubscribe?token=abc>", issue.Headers!["List-Unsubscribe"]);
        Assert.Equal("List-Unsubscribe=One-Click", issue.Headers["List-Unsubscribe-Post"]);
        var html = EmailTemplates.Welcome("x@example.com", "<script>alert(1)</script>").Html;
        Assert.DoesNotContain("<script>", html, StringComparison.Ordinal);
    }
}

/// <summary>The app pointed at an SMTP port where nothing listens.</summary>
public sealed class DeadSmtpFixture : AppFixture
{
    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        ["Email:Mode"] = "smtp",
        ["Email:Host"] = "127.0.0.1",
        ["Email:Port"] = "9",
        ["Email:StartTls"] = "false",
    };
}

public sealed class EmailRetryTests(DeadSmtpFixture fixture) : IClassFixture<DeadSmtpFixture>
{
    [Fact]
    public async Task An_unreachable_SMTP_server_leaves_the_email_job_retrying_not_lost()
    {
        using var client = fixture.App.CreateClient();
        var email = $"retry{Guid.NewGuid():N}@example.com";
        var registered = await client.PostAsJsonAsync("/auth/register", new { email, password = "a long enough password" }).ExpectAsync(HttpStatusCode.Created);

        async Task<string> State()
        {
            await using var command = fixture.App.DataSource.CreateCommand(
                $"select state from job where kind = 'email.send' and unique_key = 'welcome:{registered["user_id"]}'");
            return (string)(await command.ExecuteScalarAsync())!;
        }

        await Eventually.EqualAsync("retryable", State);
    }
}

using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using Holdfast.Features.Notifications;
using Holdfast.Tests.Infrastructure;
using MimeKit;

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

        var welcome = await fixture.Smtp.WaitForAsync(email, "Welcome to Holdfast");
        Assert.Equal("Welcome to Holdfast", welcome.Subject);
        Assert.Contains("Hello Ada", welcome.TextBody, StringComparison.Ordinal);

        await TestCatalogue.AirportAsync(App.DataSource, "HNL", "Honolulu", "United States", "Pacific/Honolulu");
        await TestCatalogue.AirportAsync(App.DataSource, "LAX", "Los Angeles", "United States", "America/Los_Angeles");
        var localDate = DateOnly.FromDateTime(DateTime.UtcNow.AddDays(4));
        var show = await TestCatalogue.ShowAsync(App.DataSource, kind: "flight", originIata: "HNL", destinationIata: "LAX", premiumRows: 0, timeZone: "Pacific/Honolulu", currency: "USD",
            startsAt: new DateTimeOffset(localDate.ToDateTime(new TimeOnly(21, 55)), TimeSpan.FromHours(-10)));
        var hold = await client.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "2A", "2B" } }).ExpectAsync(HttpStatusCode.Created);
        var booking = await client.PostAsync($"/holds/{hold["hold_id"]}/booking", null).ExpectAsync(HttpStatusCode.Created);

        var confirmed = await fixture.Smtp.WaitForAsync(email, $"Booking {booking["booking_id"]} confirmed");
        var alternative = Assert.IsType<MultipartAlternative>(confirmed.Body);
        Assert.Equal(["text/plain", "multipart/related"], alternative.Select(part => part.ContentType.MimeType));
        // Each ticket's QR code is inline (multipart/related, cid: URLs) and decodes to its code.
        var related = Assert.IsType<MultipartRelated>(alternative[1]);
        var tickets = await Holdfast.Tests.Features.Boarding.Boarding.TicketsAsync(client, booking["booking_id"]!.GetValue<long>());
        var images = related.OfType<MimePart>().Where(p => p.ContentType.MimeType == "image/png").ToList();
        Assert.Equal(2, images.Count);
        foreach (var image in images)
        {
            Assert.Contains($"cid:{image.ContentId}", confirmed.HtmlBody, StringComparison.Ordinal);
            using var png = new MemoryStream();
            await image.Content!.DecodeToAsync(png, TestContext.Current.CancellationToken);
            var code = Holdfast.Tests.Features.Boarding.Boarding.DecodeQr(png.ToArray());
            Assert.Contains(tickets, t => t!["code"]!.GetValue<string>() == code);
            Assert.Contains(code, confirmed.TextBody, StringComparison.Ordinal);
        }

        foreach (var body in new[] { confirmed.TextBody, confirmed.HtmlBody })
        {
            Assert.Contains("21:55 (Pacific/Honolulu, UTC-10:00)", body, StringComparison.Ordinal);
            Assert.Contains("2A, 2B", body, StringComparison.Ordinal);
            Assert.Contains("40.00 USD", body, StringComparison.Ordinal);
        }

        Assert.Contains("Seats: 2A, 2B", confirmed.TextBody, StringComparison.Ordinal);
        Assert.Contains("Total: 40.00 USD", confirmed.TextBody, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_payment_deadline_passing_unpaid_tells_the_customer_the_seats_went_back()
    {
        var email = $"late{Guid.NewGuid():N}@example.com";
        var (client, _) = await App.CustomerAsync(email);
        var show = await TestCatalogue.ShowAsync(App.DataSource);
        var hold = await client.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "3C" } }).ExpectAsync(HttpStatusCode.Created);
        var declined = await client.PostAsJsonAsync($"/holds/{hold["hold_id"]}/booking", new { payment_method = "pm_card_chargeDeclined" }).ExpectAsync(HttpStatusCode.PaymentRequired);
        var bookingId = declined["booking_id"]!.GetValue<long>();

        // The deadline passes: brought forward in SQL, and the deadline job made due now.
        await App.DataSource.ScalarAsync<int>("with b as (update booking set payment_deadline = now() - interval '1 second' where booking_id = $1 returning 1) select count(*)::int from b", bookingId);
        await App.DataSource.ScalarAsync<int>("with j as (update job set run_at = now() where kind = 'payments.deadline' and (payload->>'booking_id')::bigint = $1 and state = 'available' returning 1) select count(*)::int from j", bookingId);

        var expired = await fixture.Smtp.WaitForAsync(email, $"Booking {bookingId} expired unpaid");
        Assert.Contains("seats went back on sale", expired.TextBody, StringComparison.Ordinal);
        Assert.Contains("3C", expired.TextBody, StringComparison.Ordinal);
        Assert.Equal("available", await App.DataSource.ScalarAsync<string>("select state from show_seat ss join seat s on s.seat_id = ss.seat_id where ss.show_id = $1 and s.label = '3C'", show.ShowId));
    }

    [Fact]
    public async Task An_smtp_5xx_refusal_discards_the_email_job_at_once()
    {
        var (state, attempt, error) = await WelcomeJobAfterFailureAsync($"refuse-{Guid.NewGuid():N}@example.com");

        Assert.Equal(("discarded", 1), (state, attempt));
        Assert.Contains("550", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_smtp_4xx_refusal_leaves_the_email_job_to_be_retried()
    {
        var (state, attempt, error) = await WelcomeJobAfterFailureAsync($"defer-{Guid.NewGuid():N}@example.com");

        Assert.Equal("retryable", state);
        Assert.True(attempt < 10, "retried, not discarded");
        Assert.Contains("451", error, StringComparison.Ordinal);
    }

    // Registers (which enqueues the welcome email) and waits for the job's first attempt to fail.
    private async Task<(string State, int Attempt, string Error)> WelcomeJobAfterFailureAsync(string email)
    {
        using var client = App.CreateClient();
        var registered = await client.PostAsJsonAsync("/auth/register", new { email, password = "a long enough password" }).ExpectAsync(HttpStatusCode.Created);
        var sql = $"select state, attempt, coalesce(errors -> -1 ->> 'error', '') from job where kind = 'email.send' and unique_key = 'welcome:{registered["user_id"]}'";
        async Task<(string, int, string)> Read()
        {
            await using var command = App.DataSource.CreateCommand(sql);
            await using var reader = await command.ExecuteReaderAsync();
            await reader.ReadAsync();
            return (reader.GetString(0), reader.GetInt32(1), reader.GetString(2));
        }

        var deadline = DateTime.UtcNow.AddSeconds(15);
        var job = await Read();
        while (job.Item1 is "available" or "running" && DateTime.UtcNow < deadline)
        {
            await Task.Delay(25);
            job = await Read();
        }

        return job;
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

        Task<string> State() =>
            fixture.App.DataSource.ScalarAsync<string>($"select state from job where kind = 'email.send' and unique_key = 'welcome:{registered["user_id"]}'");

        await Eventually.EqualAsync("retryable", State);
    }
}

/// <summary>The app pointed at an SMTP server that takes the connection and never says a word, with a 2 s timeout.</summary>
public sealed class HungSmtpFixture : AppFixture
{
    private readonly TcpListener listener = new(IPAddress.Loopback, 0);
    private readonly List<Socket> accepted = [];
    private Task? accepting;

    public const int TimeoutSeconds = 2;

    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        ["Email:Mode"] = "smtp",
        ["Email:Host"] = "127.0.0.1",
        ["Email:Port"] = ((IPEndPoint)listener.LocalEndpoint).Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Email:StartTls"] = "false",
        ["Email:TimeoutSeconds"] = TimeoutSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    public override async ValueTask InitializeAsync()
    {
        listener.Start();
        accepting = Task.Run(async () =>
        {
            try
            {
                while (true)
                {
                    var socket = await listener.AcceptSocketAsync();
                    lock (accepted)
                    {
                        accepted.Add(socket); // held open, never written to
                    }
                }
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                // Stopped.
            }
        });
        await base.InitializeAsync();
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        listener.Stop();
        await accepting!;
        foreach (var socket in accepted)
        {
            socket.Dispose();
        }
    }
}

public sealed class HungSmtpTests(HungSmtpFixture fixture) : IClassFixture<HungSmtpFixture>
{
    // Issue 11 item 4: System.Net.Mail waited 100 s for a greeting that never came, holding the job
    // and its whole batch; now the attempt fails within Email:TimeoutSeconds and is retried.
    [Fact]
    public async Task A_hung_SMTP_server_fails_the_email_attempt_within_the_timeout_and_the_job_retries()
    {
        using var client = fixture.App.CreateClient();
        var email = $"hung{Guid.NewGuid():N}@example.com";
        var registered = await client.PostAsJsonAsync("/auth/register", new { email, password = "a long enough password" }).ExpectAsync(HttpStatusCode.Created);

        Task<string> FirstError() =>
            fixture.App.DataSource.ScalarAsync<string>($"select coalesce(errors -> 0 ->> 'error', '') from job where kind = 'email.send' and unique_key = 'welcome:{registered["user_id"]}'");

        var started = System.Diagnostics.Stopwatch.StartNew();
        var deadline = TimeSpan.FromSeconds(HungSmtpFixture.TimeoutSeconds + 8);
        var error = await FirstError();
        while (error.Length == 0 && started.Elapsed < deadline)
        {
            await Task.Delay(25);
            error = await FirstError();
        }

        Assert.Contains($"did not finish within {HungSmtpFixture.TimeoutSeconds} s", error, StringComparison.Ordinal);
        Assert.NotEqual("discarded", await fixture.App.DataSource.ScalarAsync<string>(
            $"select state from job where kind = 'email.send' and unique_key = 'welcome:{registered["user_id"]}'"));
    }
}

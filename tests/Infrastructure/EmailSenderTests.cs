using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Holdfast.Infrastructure.Email;
using Holdfast.Infrastructure.Jobs;
using MailKit.Net.Smtp;
using Microsoft.Extensions.Options;
using MimeKit;

namespace Holdfast.Tests.Infrastructure;

/// <summary>The sender alone against a real SMTP server (aiosmtpd), a silent one, and the pickup folder.</summary>
public sealed class EmailSenderTests(SmtpServer smtp) : IClassFixture<SmtpServer>
{
    private SmtpEmailSender Sender(int? port = null, int timeoutSeconds = 30) => new(Options.Create(new EmailOptions
    {
        Mode = "smtp",
        Host = "127.0.0.1",
        Port = port ?? smtp.Port,
        StartTls = false,
        TimeoutSeconds = timeoutSeconds,
    }));

    private static EmailMessage Message(string to, string subject = "Hello") => new(to, subject, "Plain text: 4A, 4B.", "<p>HTML: 4A, 4B.</p>",
        new Dictionary<string, string>
        {
            ["List-Unsubscribe"] = "<https://holdfast.example/newsletter/unsubscribe?token=abc>",
            ["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click",
        });

    [Theory]
    [InlineData("Réservation confirmée — 4A, 4B")]
    [InlineData("Réservation confirmée — sièges 4A, 4B, 4C et 4D pour « Le Voyage dans la Lune », samedi 21 novembre à 21 h 55, salle 2")]
    public async Task A_non_ASCII_subject_arrives_intact_however_it_is_encoded_and_folded(string subject)
    {
        var to = $"utf8{Guid.NewGuid():N}@example.com";

        await Sender().SendAsync(Message(to, subject), TestContext.Current.CancellationToken);

        var received = await smtp.WaitForAsync(to, "Réservation");
        Assert.Equal(subject, received.Subject);
        var raw = await File.ReadAllTextAsync(smtp.Files().Single(f => SmtpServer.IsTo(MimeMessage.Load(f), to)), TestContext.Current.CancellationToken);
        var header = raw[raw.IndexOf("Subject:", StringComparison.Ordinal)..raw.IndexOf("\r\n", raw.IndexOf("Subject:", StringComparison.Ordinal), StringComparison.Ordinal)];
        Assert.Contains("=?utf-8?", header, StringComparison.OrdinalIgnoreCase); // RFC 2047: a header is ASCII on the wire
    }

    [Fact]
    public async Task A_message_is_text_and_HTML_alternatives_with_the_one_click_unsubscribe_headers()
    {
        var to = $"parts{Guid.NewGuid():N}@example.com";

        await Sender().SendAsync(Message(to), TestContext.Current.CancellationToken);

        var received = await smtp.WaitForAsync(to, "Hello");
        var alternative = Assert.IsType<MultipartAlternative>(received.Body);
        Assert.Equal(["text/plain", "text/html"], alternative.Select(part => part.ContentType.MimeType));
        Assert.Equal("Plain text: 4A, 4B.", received.TextBody);
        Assert.Equal("<p>HTML: 4A, 4B.</p>", received.HtmlBody);
        Assert.Equal("<https://holdfast.example/newsletter/unsubscribe?token=abc>", received.Headers["List-Unsubscribe"]);
        Assert.Equal("List-Unsubscribe=One-Click", received.Headers["List-Unsubscribe-Post"]);
        Assert.Equal("no-reply@holdfast.example", received.From.Mailboxes.Single().Address);
    }

    [Fact]
    public async Task An_smtp_5xx_refusal_is_permanent()
    {
        var refusal = await Assert.ThrowsAsync<PermanentJobException>(() =>
            Sender().SendAsync(Message($"refuse-{Guid.NewGuid():N}@example.com"), TestContext.Current.CancellationToken));

        var command = Assert.IsType<SmtpCommandException>(refusal.InnerException);
        Assert.Equal(550, (int)command.StatusCode);
        Assert.Contains("550", refusal.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_smtp_4xx_refusal_is_transient()
    {
        var deferral = await Assert.ThrowsAsync<SmtpCommandException>(() =>
            Sender().SendAsync(Message($"defer-{Guid.NewGuid():N}@example.com"), TestContext.Current.CancellationToken));

        Assert.Equal(451, (int)deferral.StatusCode);
    }

    [Fact]
    public async Task A_server_that_accepts_and_never_answers_fails_the_send_within_the_timeout()
    {
        using var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start(); // the kernel completes the handshake; nobody ever writes a greeting
        var port = ((IPEndPoint)silent.LocalEndpoint).Port;
        var clock = Stopwatch.StartNew();

        var failure = await Record.ExceptionAsync(() => Sender(port, timeoutSeconds: 2).SendAsync(Message("silent@example.com"), TestContext.Current.CancellationToken));

        var timeout = Assert.IsType<TimeoutException>(failure);
        Assert.Equal($"SMTP server 127.0.0.1:{port} did not finish within 2 s.", timeout.Message);
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(1.5), TimeSpan.FromSeconds(6));
    }

    [Fact]
    public async Task Pickup_mode_writes_one_whole_eml_file_that_reads_back_as_sent()
    {
        var folder = Directory.CreateTempSubdirectory("holdfast-pickup-").FullName;
        try
        {
            var sender = new SmtpEmailSender(Options.Create(new EmailOptions { Mode = "pickup", PickupDirectory = folder }));

            await sender.SendAsync(Message("pickup@example.com", "Réservation confirmée — 4A, 4B"), TestContext.Current.CancellationToken);

            var file = Assert.Single(Directory.GetFiles(folder));
            Assert.EndsWith(".eml", file, StringComparison.Ordinal);
            var message = MimeMessage.Load(file);
            Assert.Equal("Réservation confirmée — 4A, 4B", message.Subject);
            Assert.Equal("pickup@example.com", message.To.Mailboxes.Single().Address);
            Assert.Equal("Plain text: 4A, 4B.", message.TextBody);
            Assert.Equal("<p>HTML: 4A, 4B.</p>", message.HtmlBody);
            Assert.Equal("List-Unsubscribe=One-Click", message.Headers["List-Unsubscribe-Post"]);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}

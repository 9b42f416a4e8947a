using System.ComponentModel.DataAnnotations;
using Holdfast.Infrastructure.Jobs;
using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.Extensions.Options;
using MimeKit;

namespace Holdfast.Infrastructure.Email;

/// <summary>Settings under <c>Email</c> in configuration.</summary>
public sealed class EmailOptions : IValidatableObject
{
    /// <summary><c>pickup</c> (default: write .eml files to <see cref="PickupDirectory"/>) or <c>smtp</c>.</summary>
    [RegularExpression("pickup|smtp", ErrorMessage = "{0} must be pickup or smtp.")]
    public string Mode { get; set; } = "pickup";

    /// <summary>Folder for .eml files in pickup mode; relative to the working directory (default <c>.data/mail</c>, git-ignored).</summary>
    public string PickupDirectory { get; set; } = ".data/mail";

    /// <summary>SMTP host.</summary>
    public string? Host { get; set; }

    /// <summary>SMTP port (default 587, submission).</summary>
    [Range(1, 65535)]
    public int Port { get; set; } = 587;

    /// <summary>Upgrade the connection with STARTTLS (RFC 3207) before sending, and refuse a server that cannot (default true).</summary>
    public bool StartTls { get; set; } = true;

    /// <summary>SMTP user name, if the server wants one.</summary>
    public string? UserName { get; set; }

    /// <summary>SMTP password.</summary>
    public string? Password { get; set; }

    /// <summary>The From address, e.g. <c>Holdfast &lt;no-reply@holdfast.example&gt;</c>.</summary>
    [Required]
    public string From { get; set; } = "Holdfast <no-reply@holdfast.example>";

    /// <summary>
    /// The most one SMTP send may take, connect to QUIT, in seconds (default 30); it is also MailKit's
    /// limit on any one network read or write. Kept well under the job lease (<c>Jobs:LeaseSeconds</c>,
    /// 60) so a hung server fails the attempt, to be retried, instead of holding its job and batch.
    /// </summary>
    [Range(1, 600)]
    public int TimeoutSeconds { get; set; } = 30;

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Mode == "smtp" && string.IsNullOrWhiteSpace(Host))
        {
            yield return new ValidationResult("is required when Mode is smtp.", [nameof(Host)]);
        }

        if (Mode == "pickup" && string.IsNullOrWhiteSpace(PickupDirectory))
        {
            yield return new ValidationResult("is required when Mode is pickup.", [nameof(PickupDirectory)]);
        }

        if (!MimeKit.MailboxAddress.TryParse(From, out _))
        {
            yield return new ValidationResult("must be an address such as Holdfast <no-reply@example.com>.", [nameof(From)]);
        }
    }
}

/// <summary>An email with a plain-text and an HTML body (multipart/alternative).</summary>
/// <param name="To">Recipient address.</param>
/// <param name="Subject">Subject line; any Unicode (written RFC 2047-encoded and folded).</param>
/// <param name="Text">text/plain body.</param>
/// <param name="Html">text/html body.</param>
/// <param name="Headers">Extra headers, e.g. <c>List-Unsubscribe</c> and <c>List-Unsubscribe-Post</c> (RFC 8058).</param>
/// <param name="Images">Images the HTML shows inline as <c>cid:</c> URLs (RFC 2392), sent with it as multipart/related (RFC 2387).</param>
public sealed record EmailMessage(string To, string Subject, string Text, string Html, IReadOnlyDictionary<string, string>? Headers = null,
    IReadOnlyList<EmailImage>? Images = null);

/// <summary>An image an HTML email shows inline.</summary>
/// <param name="ContentId">The Content-ID without angle brackets, e.g. <c>ticket-12@holdfast</c>; the HTML refers to it as <c>cid:ticket-12@holdfast</c>.</param>
/// <param name="FileName">The name a mail client offers when saving it, e.g. <c>ticket-2A.png</c>.</param>
/// <param name="MediaType">E.g. <c>image/png</c>.</param>
/// <param name="Content">The image's bytes.</param>
public sealed record EmailImage(string ContentId, string FileName, string MediaType, byte[] Content);

/// <summary>Sends email. Only jobs call it, so a failed send is retried by the job engine.</summary>
public interface IEmailSender
{
    /// <summary>Sends <paramref name="message"/>.</summary>
    /// <exception cref="PermanentJobException">The server refused for good (an SMTP 5xx reply), or the recipient is not an address: do not retry.</exception>
    /// <exception cref="SmtpCommandException">A 4xx reply: try again later.</exception>
    /// <exception cref="TimeoutException">The server did not finish within <see cref="EmailOptions.TimeoutSeconds"/>: try again later.</exception>
    /// <exception cref="IOException">The connection failed (also <see cref="System.Net.Sockets.SocketException"/>, <see cref="SmtpProtocolException"/>): try again later.</exception>
    Task SendAsync(EmailMessage message, CancellationToken cancellationToken);
}

/// <summary>
/// <see cref="IEmailSender"/> on MailKit's <see cref="SmtpClient"/>, or in pickup mode MimeKit writing
/// <c>.eml</c> files. A new client per message: <see cref="SmtpClient"/> is not thread-safe.
/// </summary>
public sealed class SmtpEmailSender(IOptions<EmailOptions> options) : IEmailSender
{
    /// <inheritdoc />
    public async Task SendAsync(EmailMessage message, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        using var mime = Compose(settings.From, message);
        if (settings.Mode == "smtp")
        {
            await SendSmtpAsync(settings, mime, message.To, cancellationToken);
        }
        else
        {
            await WritePickupAsync(settings, mime, cancellationToken);
        }
    }

    /// <summary>
    /// The MIME message: multipart/alternative of text/plain and text/html (the HTML inside a
    /// multipart/related with its <see cref="EmailMessage.Images"/> when there are any), UTF-8 where
    /// needed, plus <see cref="EmailMessage.Headers"/>.
    /// </summary>
    /// <exception cref="PermanentJobException"><see cref="EmailMessage.To"/> is not an address.</exception>
    public static MimeMessage Compose(string from, EmailMessage message)
    {
        if (!MailboxAddress.TryParse(message.To, out var to))
        {
            throw new PermanentJobException($"'{message.To}' is not an email address.");
        }

        var mime = new MimeMessage { Subject = message.Subject };
        mime.From.Add(MailboxAddress.Parse(from));
        mime.To.Add(to);
        foreach (var (name, value) in message.Headers ?? new Dictionary<string, string>())
        {
            mime.Headers.Add(name, value);
        }

        var body = new BodyBuilder { TextBody = message.Text, HtmlBody = message.Html };
        foreach (var image in message.Images ?? [])
        {
            var part = body.LinkedResources.Add(image.FileName, image.Content, ContentType.Parse(image.MediaType));
            part.ContentId = image.ContentId;
        }

        mime.Body = body.ToMessageBody();
        return mime;
    }

    private static async Task SendSmtpAsync(EmailOptions settings, MimeMessage mime, string to, CancellationToken cancellationToken)
    {
        var host = settings.Host ?? throw new InvalidOperationException("Email:Host is required when Email:Mode is smtp.");
        var timeout = TimeSpan.FromSeconds(settings.TimeoutSeconds);
        // MailKit's Timeout bounds each read and write; the deadline bounds the whole conversation,
        // so a server that trickles bytes cannot hold the job either.
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        using var client = new SmtpClient { Timeout = (int)timeout.TotalMilliseconds };
        try
        {
            await client.ConnectAsync(host, settings.Port, settings.StartTls ? SecureSocketOptions.StartTls : SecureSocketOptions.None, deadline.Token);
            if (settings.UserName is not null)
            {
                await client.AuthenticateAsync(settings.UserName, settings.Password ?? "", deadline.Token);
            }

            await client.SendAsync(mime, deadline.Token);
        }
        catch (SmtpCommandException ex) when ((int)ex.StatusCode >= 500)
        {
            // 5xx is the server saying "never" (RFC 5321 §4.2.1): a retry would be refused the same way.
            throw new PermanentJobException($"SMTP refused the message to {to}: {(int)ex.StatusCode} {ex.Message}", ex);
        }
        catch (SmtpCommandException ex)
        {
            // 4xx: "not now". The same exception, with the code in the message the job records.
            var message = $"SMTP deferred the message to {to}: {(int)ex.StatusCode} {ex.Message}";
            throw ex.Mailbox is { } mailbox
                ? new SmtpCommandException(ex.ErrorCode, ex.StatusCode, mailbox, message, ex)
                : new SmtpCommandException(ex.ErrorCode, ex.StatusCode, message, ex);
        }
        catch (Exception ex) when (ex is TimeoutException || (ex is OperationCanceledException && deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested))
        {
            // MailKit's read timeout or our deadline, whichever came first: one message for the job's errors.
            throw new TimeoutException($"SMTP server {host}:{settings.Port} did not finish within {settings.TimeoutSeconds} s.", ex);
        }

        try
        {
            await client.DisconnectAsync(quit: true, deadline.Token);
        }
        catch (Exception ex) when (ex is IOException or TimeoutException or OperationCanceledException or SmtpProtocolException or SmtpCommandException)
        {
            // The message was accepted; a failed QUIT must not make the job send it again.
        }
    }

    // Written under a temporary name and renamed, so a reader of the folder never sees half a file.
    private static async Task WritePickupAsync(EmailOptions settings, MimeMessage mime, CancellationToken cancellationToken)
    {
        var folder = Path.GetFullPath(settings.PickupDirectory);
        Directory.CreateDirectory(folder);
        mime.Prepare(EncodingConstraint.SevenBit);
        var name = Guid.NewGuid().ToString("N");
        var partial = Path.Combine(folder, $"{name}.tmp");
        await mime.WriteToAsync(partial, cancellationToken);
        File.Move(partial, Path.Combine(folder, $"{name}.eml"));
    }
}

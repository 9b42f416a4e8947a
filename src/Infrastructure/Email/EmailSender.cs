using System.Net;
using System.Net.Mail;
using System.Net.Mime;
using Holdfast.Infrastructure.Jobs;
using Microsoft.Extensions.Options;

namespace Holdfast.Infrastructure.Email;

/// <summary>Settings under <c>Email</c> in configuration.</summary>
public sealed class EmailOptions
{
    /// <summary><c>pickup</c> (default: write .eml files to <see cref="PickupDirectory"/>) or <c>smtp</c>.</summary>
    public string Mode { get; set; } = "pickup";

    /// <summary>Folder for .eml files in pickup mode; relative to the working directory (default <c>.data/mail</c>, git-ignored).</summary>
    public string PickupDirectory { get; set; } = ".data/mail";

    /// <summary>SMTP host.</summary>
    public string? Host { get; set; }

    /// <summary>SMTP port (default 587, submission).</summary>
    public int Port { get; set; } = 587;

    /// <summary>Upgrade the connection with STARTTLS (RFC 3207) before sending (default true).</summary>
    public bool StartTls { get; set; } = true;

    /// <summary>SMTP user name, if the server wants one.</summary>
    public string? UserName { get; set; }

    /// <summary>SMTP password.</summary>
    public string? Password { get; set; }

    /// <summary>The From address, e.g. <c>Holdfast &lt;no-reply@holdfast.example&gt;</c>.</summary>
    public string From { get; set; } = "Holdfast <no-reply@holdfast.example>";
}

/// <summary>An email with a plain-text and an HTML body (multipart/alternative).</summary>
/// <param name="To">Recipient address.</param>
/// <param name="Subject">Subject line.</param>
/// <param name="Text">text/plain body.</param>
/// <param name="Html">text/html body.</param>
/// <param name="Headers">Extra headers, e.g. <c>List-Unsubscribe</c>.</param>
public sealed record EmailMessage(string To, string Subject, string Text, string Html, IReadOnlyDictionary<string, string>? Headers = null);

/// <summary>Sends email. Only jobs call it, so a failed send is retried by the job engine.</summary>
public interface IEmailSender
{
    /// <summary>Sends <paramref name="message"/>.</summary>
    /// <exception cref="SmtpException">A transient SMTP failure (4xx, connection): retry.</exception>
    /// <exception cref="PermanentJobException">The server refused for good (5xx): do not retry.</exception>
    Task SendAsync(EmailMessage message, CancellationToken cancellationToken);
}

/// <summary>
/// <see cref="IEmailSender"/> over <see cref="SmtpClient"/> (MailKit does not restore here; GUIDE §3).
/// A new client per message, since <see cref="SmtpClient"/> is not thread-safe.
/// </summary>
public sealed class SmtpEmailSender(IOptions<EmailOptions> options) : IEmailSender
{
    /// <inheritdoc />
    public async Task SendAsync(EmailMessage message, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        using var mail = new MailMessage(settings.From, message.To) { Subject = message.Subject, BodyEncoding = System.Text.Encoding.UTF8, SubjectEncoding = System.Text.Encoding.UTF8 };
        mail.AlternateViews.Add(AlternateView.CreateAlternateViewFromString(message.Text, System.Text.Encoding.UTF8, MediaTypeNames.Text.Plain));
        mail.AlternateViews.Add(AlternateView.CreateAlternateViewFromString(message.Html, System.Text.Encoding.UTF8, MediaTypeNames.Text.Html));
        foreach (var (name, value) in message.Headers ?? new Dictionary<string, string>())
        {
            mail.Headers.Add(name, value);
        }

        using var client = new SmtpClient();
        if (settings.Mode == "smtp")
        {
            client.Host = settings.Host ?? throw new InvalidOperationException("Email:Host is required when Email:Mode is smtp.");
            client.Port = settings.Port;
            client.EnableSsl = settings.StartTls;
            client.DeliveryMethod = SmtpDeliveryMethod.Network;
            if (settings.UserName is not null)
            {
                client.Credentials = new NetworkCredential(settings.UserName, settings.Password);
            }
        }
        else
        {
            var folder = Path.GetFullPath(settings.PickupDirectory);
            Directory.CreateDirectory(folder);
            client.DeliveryMethod = SmtpDeliveryMethod.SpecifiedPickupDirectory;
            client.PickupDirectoryLocation = folder;
        }

        try
        {
            await client.SendMailAsync(mail, cancellationToken);
        }
        catch (SmtpException ex) when ((int)ex.StatusCode >= 500 && ex.StatusCode != SmtpStatusCode.GeneralFailure)
        {
            // 5xx is the server saying "never": a retry would be refused the same way.
            throw new PermanentJobException($"SMTP refused the message to {message.To}: {(int)ex.StatusCode} {ex.Message}", ex);
        }
    }
}

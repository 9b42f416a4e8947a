using Holdfast.Infrastructure;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Email;
using Holdfast.Infrastructure.Jobs;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Holdfast.Features.Notifications;

/// <summary>
/// The <c>email.send</c> job: payload <c>{template, user_id | booking_id}</c>. It reads the data when
/// it runs, so an email says what is true when it leaves, and renders <see cref="EmailTemplates"/>.
/// Transient SMTP failures throw and are retried by the engine; refusals are permanent.
/// </summary>
public sealed class SendEmail(NpgsqlDataSource db, IEmailSender sender, LinkTokens links, IOptions<Newsletter.NewsletterOptions> newsletter) : IJobHandler
{
    /// <summary>The job kind.</summary>
    public const string JobKind = "email.send";

    /// <inheritdoc />
    public string Kind => JobKind;

    /// <summary>The job for <paramref name="template"/> about a booking, deduplicated per booking and template.</summary>
    public static JobRequest ForBooking(string template, long bookingId) =>
        new(JobKind, new { template, booking_id = bookingId }, UniqueKey: $"{template}:{bookingId}", MaxAttempts: 10);

    /// <inheritdoc />
    public async Task HandleAsync(JobContext job, CancellationToken cancellationToken)
    {
        var template = job.Payload.GetProperty("template").GetString();
        EmailMessage? message = template switch
        {
            "welcome" => await WelcomeAsync(job.Payload.GetProperty("user_id").GetInt64(), cancellationToken),
            "booking_confirmed" => EmailTemplates.BookingConfirmed(await BookingAsync(job, cancellationToken)),
            "show_cancelled" => EmailTemplates.ShowCancelled(await BookingAsync(job, cancellationToken)),
            "reminder" => EmailTemplates.Reminder(await BookingAsync(job, cancellationToken)),
            "notice" => await NoticeAsync(job, cancellationToken),
            "payment_failed" => await PaymentFailedAsync(job, cancellationToken),
            "booking_cancelled" => await BookingCancelledAsync(job, cancellationToken),
            "newsletter_confirm" => await NewsletterConfirmAsync(job, cancellationToken),
            "newsletter_issue" => await NewsletterIssueAsync(job, cancellationToken),
            _ => throw new PermanentJobException($"Unknown email template '{template}'."),
        };
        if (message is not null)
        {
            await sender.SendAsync(message, cancellationToken);
        }
    }

    private Uri Link(string path, string purpose, long id) =>
        new($"{newsletter.Value.PublicBaseUrl.TrimEnd('/')}{path}?token={links.Create(purpose, id)}");

    private async Task<EmailMessage?> NewsletterConfirmAsync(JobContext job, CancellationToken cancellationToken)
    {
        var id = job.Payload.GetProperty("subscriber_id").GetInt64();
        await using var command = db.CreateCommand("select email from newsletter_subscriber where newsletter_subscriber_id = @id and status = 'pending'");
        command.Parameters.Add(new NpgsqlParameter<long>("id", id));
        return await command.ExecuteScalarAsync(cancellationToken) is string email
            ? EmailTemplates.NewsletterConfirm(email, Link("/newsletter/confirm", Newsletter.NewsletterSubscriptions.ConfirmPurpose, id))
            : null;
    }

    // An issue goes only to subscribers still confirmed when their email's turn comes.
    private async Task<EmailMessage?> NewsletterIssueAsync(JobContext job, CancellationToken cancellationToken)
    {
        var id = job.Payload.GetProperty("subscriber_id").GetInt64();
        await using var command = db.CreateCommand("""
            select s.email, i.subject, i.body
            from newsletter_subscriber s, newsletter_issue i
            where s.newsletter_subscriber_id = @id and s.status = 'confirmed' and i.newsletter_issue_id = @issue_id
            """);
        command.Parameters.Add(new NpgsqlParameter<long>("id", id));
        command.Parameters.Add(new NpgsqlParameter<long>("issue_id", job.Payload.GetProperty("issue_id").GetInt64()));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? EmailTemplates.Newsletter(reader.GetString(0), reader.GetString(1), reader.GetString(2),
                Link("/newsletter/unsubscribe", Newsletter.NewsletterSubscriptions.UnsubscribePurpose, id))
            : null;
    }

    private async Task<EmailMessage> PaymentFailedAsync(JobContext job, CancellationToken cancellationToken)
    {
        var booking = await BookingAsync(job, cancellationToken);
        await using var command = db.CreateCommand("select payment_deadline from booking where booking_id = @id");
        command.Parameters.Add(new NpgsqlParameter<long>("id", booking.BookingId));
        var deadline = (DateTime)(await command.ExecuteScalarAsync(cancellationToken))!;
        return EmailTemplates.PaymentFailed(booking, job.Payload.TryGetProperty("reason", out var reason) ? reason.GetString() ?? "declined" : "declined",
            new DateTimeOffset(deadline, TimeSpan.Zero));
    }

    private async Task<EmailMessage> BookingCancelledAsync(JobContext job, CancellationToken cancellationToken)
    {
        var booking = await BookingAsync(job, cancellationToken);
        await using var command = db.CreateCommand("select refunded_minor from booking where booking_id = @id");
        command.Parameters.Add(new NpgsqlParameter<long>("id", booking.BookingId));
        return EmailTemplates.BookingCancelled(booking, (long)(await command.ExecuteScalarAsync(cancellationToken))!);
    }

    private async Task<EmailMessage> NoticeAsync(JobContext job, CancellationToken cancellationToken)
    {
        var booking = await BookingAsync(job, cancellationToken);
        await using var command = db.CreateCommand("select subject, message from show_notice where show_notice_id = @id");
        command.Parameters.Add(new NpgsqlParameter<long>("id", job.Payload.GetProperty("notice_id").GetInt64()));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? EmailTemplates.Notice(booking, reader.GetString(0), reader.GetString(1))
            : throw new PermanentJobException("The notice no longer exists.");
    }

    private async Task<EmailMessage> WelcomeAsync(long userId, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand("select email, display_name from app_user where app_user_id = @user_id");
        command.Parameters.Add(new NpgsqlParameter<long>("user_id", userId));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? EmailTemplates.Welcome(reader.GetString(0), reader.GetString(1))
            : throw new PermanentJobException($"No user {userId}.");
    }

    /// <summary>Loads what booking emails show; shared with the reminder and web-push jobs of this folder.</summary>
    internal static async Task<EmailTemplates.Booking?> LoadBookingAsync(NpgsqlDataSource db, long bookingId, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand(BookingSql);
        command.Parameters.Add(new NpgsqlParameter<long>("booking_id", bookingId));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }

        return new EmailTemplates.Booking(reader.GetString(0), reader.GetString(1), reader.GetInt64(2), reader.GetString(3),
            LocalTime.WithOffset(reader.GetDateTime(4), reader.GetDateTime(5)), reader.GetString(6), reader.GetString(7),
            reader.GetFieldValue<string[]>(8), reader.GetInt64(9), reader.GetString(10), reader.GetInt16(11));
    }

    private async Task<EmailTemplates.Booking> BookingAsync(JobContext job, CancellationToken cancellationToken)
    {
        var bookingId = job.Payload.GetProperty("booking_id").GetInt64();
        return await LoadBookingAsync(db, bookingId, cancellationToken) ?? throw new PermanentJobException($"No booking {bookingId}.");
    }

    private const string BookingSql = """
        select u.email, u.display_name, b.booking_id, e.title, s.starts_at, s.starts_at at time zone s.time_zone, s.time_zone, v.name,
               coalesce((select array_agg(se.label order by se.y, se.x) from booking_seat bs join seat se on se.seat_id = bs.seat_id where bs.booking_id = b.booking_id),
                        (select array_agg(se.label order by se.y, se.x) from hold_seat hs join seat se on se.seat_id = hs.seat_id where hs.hold_id = b.hold_id)),
               b.total_minor, b.currency, c.exponent
        from booking b
        join app_user u on u.app_user_id = b.app_user_id
        join show s on s.show_id = b.show_id
        join event e on e.event_id = s.event_id
        join venue v on v.venue_id = s.venue_id
        join currency c on c.code = b.currency
        where b.booking_id = @booking_id
        """;
}

/// <summary>Registers the email sender and its settings.</summary>
public sealed class EmailServices : IConfigureServices
{
    /// <inheritdoc />
    public void ConfigureServices(IServiceCollection services, IConfiguration configuration)
    {
        services.AddSettings<EmailOptions>("Email");
        services.AddSingleton<IEmailSender, SmtpEmailSender>();
    }
}

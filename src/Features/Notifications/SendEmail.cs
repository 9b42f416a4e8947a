using Holdfast.Features.Jobs;
using Holdfast.Infrastructure;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Email;
using Holdfast.Infrastructure.Jobs;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Holdfast.Features.Notifications;

/// <summary>
/// Runs <see cref="EmailArgs"/> jobs. It reads the data when it runs, so an email says what is true
/// when it leaves, and renders <see cref="EmailTemplates"/>. Transient SMTP failures throw and are
/// retried by the engine; refusals are permanent.
/// </summary>
public sealed class SendEmail(NpgsqlDataSource db, IEmailSender sender) : JobHandler<EmailArgs>
{
    /// <inheritdoc />
    public override async Task HandleAsync(JobContext job, EmailArgs args, CancellationToken cancellationToken)
    {
        EmailMessage? message = args.Template switch
        {
            "welcome" => await WelcomeAsync(Required(args.UserId, "user_id"), cancellationToken),
            "booking_confirmed" => await BookingConfirmedAsync(args, cancellationToken),
            "booking_expired" => EmailTemplates.BookingExpired(await BookingAsync(args, cancellationToken)),
            "show_cancelled" => EmailTemplates.ShowCancelled(await BookingAsync(args, cancellationToken)),
            "reminder" => EmailTemplates.Reminder(await BookingAsync(args, cancellationToken)),
            "notice" => await NoticeAsync(args, cancellationToken),
            "payment_failed" => await PaymentFailedAsync(args, cancellationToken),
            "booking_cancelled" => await BookingCancelledAsync(args, cancellationToken),
            _ => throw new PermanentJobException($"Unknown email template '{args.Template}'."),
        };
        if (message is not null)
        {
            await sender.SendAsync(message, cancellationToken);
        }
    }

    private static long Required(long? value, string field) =>
        value ?? throw new PermanentJobException($"Malformed email.send payload, discarded: '{field}' is required for this template.");

    private async Task<EmailMessage> PaymentFailedAsync(EmailArgs args, CancellationToken cancellationToken)
    {
        var booking = await BookingAsync(args, cancellationToken);
        await using var command = db.CreateCommand("select payment_deadline from booking where booking_id = @booking_id").With("booking_id", booking.BookingId);
        var deadline = (DateTime)(await command.ExecuteScalarAsync(cancellationToken))!;
        return EmailTemplates.PaymentFailed(booking, args.Reason ?? "declined", new DateTimeOffset(deadline, TimeSpan.Zero));
    }

    // The tickets valid when the email leaves (a seat cancelled since has none).
    private async Task<EmailMessage> BookingConfirmedAsync(EmailArgs args, CancellationToken cancellationToken)
    {
        var booking = await BookingAsync(args, cancellationToken);
        await using var command = db.CreateCommand("""
            select se.label, t.code, t.attendee_name
            from ticket t
            join booking_seat bs on bs.booking_id = t.booking_id and bs.seat_id = t.seat_id and bs.active
            join seat se on se.seat_id = t.seat_id
            where t.booking_id = @booking_id
            order by se.y, se.x
            """).With("booking_id", booking.BookingId);
        var tickets = new List<EmailTemplates.Ticket>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var code = reader.Get<string>("code");
            tickets.Add(new EmailTemplates.Ticket(reader.Get<string>("label"), code, reader.Get<string?>("attendee_name"), Boarding.Tickets.Png(code)));
        }

        return EmailTemplates.BookingConfirmed(booking, tickets);
    }

    private async Task<EmailMessage> BookingCancelledAsync(EmailArgs args, CancellationToken cancellationToken)
    {
        var booking = await BookingAsync(args, cancellationToken);
        await using var command = db.CreateCommand("select refunded_minor from booking where booking_id = @booking_id").With("booking_id", booking.BookingId);
        return EmailTemplates.BookingCancelled(booking, (long)(await command.ExecuteScalarAsync(cancellationToken))!);
    }

    private async Task<EmailMessage> NoticeAsync(EmailArgs args, CancellationToken cancellationToken)
    {
        var booking = await BookingAsync(args, cancellationToken);
        await using var command = db.CreateCommand("select subject, message from show_notice where show_notice_id = @notice_id")
            .With("notice_id", Required(args.NoticeId, "notice_id"));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? EmailTemplates.Notice(booking, reader.Get<string>("subject"), reader.Get<string>("message"))
            : throw new PermanentJobException("The notice no longer exists.");
    }

    private async Task<EmailMessage> WelcomeAsync(long userId, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand("select email, display_name from app_user where app_user_id = @user_id").With("user_id", userId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? EmailTemplates.Welcome(reader.Get<string>("email"), reader.Get<string>("display_name"))
            : throw new PermanentJobException($"No user {userId}.");
    }

    /// <summary>Loads what booking emails show; also what a reminder's web push says.</summary>
    public static async Task<EmailTemplates.Booking?> LoadBookingAsync(NpgsqlDataSource db, long bookingId, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand(BookingSql);
        command.With("booking_id", bookingId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }

        return new EmailTemplates.Booking(reader.Get<string>("email"), reader.Get<string>("display_name"), reader.Get<long>("booking_id"), reader.Get<string>("title"),
            LocalTime.WithOffset(reader.Get<DateTime>("starts_at"), reader.Get<DateTime>("local_starts_at")), reader.Get<string>("time_zone"), reader.Get<string>("venue_name"),
            reader.Get<string[]>("seats"), reader.Get<long>("total_minor"), reader.Get<string>("currency"), reader.Get<short>("exponent"));
    }

    private async Task<EmailTemplates.Booking> BookingAsync(EmailArgs args, CancellationToken cancellationToken)
    {
        var bookingId = Required(args.BookingId, "booking_id");
        return await LoadBookingAsync(db, bookingId, cancellationToken) ?? throw new PermanentJobException($"No booking {bookingId}.");
    }

    private const string BookingSql = """
        select u.email, u.display_name, b.booking_id, e.title, s.starts_at, s.starts_at at time zone s.time_zone as local_starts_at, s.time_zone, v.name as venue_name,
               coalesce((select array_agg(se.label order by se.y, se.x) from booking_seat bs join seat se on se.seat_id = bs.seat_id where bs.booking_id = b.booking_id),
                        (select array_agg(se.label order by se.y, se.x) from hold_seat hs join seat se on se.seat_id = hs.seat_id where hs.hold_id = b.hold_id)) as seats,
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

using System.Globalization;
using Holdfast.Features.Jobs;
using Holdfast.Infrastructure;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Jobs;
using Holdfast.Infrastructure.Sms;
using Npgsql;

namespace Holdfast.Features.Notifications;

/// <summary>
/// Runs <see cref="SmsArgs"/> jobs: reads the data when it runs, checks the customer still has a
/// verified number that wants this kind (a STOP or a changed preference since the event wins),
/// renders a text that fits one segment where it can (<see cref="SmsTemplates"/>), sends it, and
/// logs and counts the segments it went as. Never logs the text (a code) or the number.
/// </summary>
public sealed class SendSms(NpgsqlDataSource db, ISmsSender sender, OneTimeCodes codes, HoldfastMetrics metrics, TimeProvider time, ILogger<SendSms> logger)
    : JobHandler<SmsArgs>
{
    /// <inheritdoc />
    public override async Task HandleAsync(JobContext job, SmsArgs args, CancellationToken cancellationToken)
    {
        var message = args.Template == "verify"
            ? await VerificationAsync(args.VerificationId ?? throw Malformed("verification_id"), cancellationToken)
            : await BookingMessageAsync(args, cancellationToken);
        if (message is null)
        {
            logger.LogInformation("SMS {Template} of job {JobId} not sent: no longer wanted or no longer valid", args.Template, job.JobId);
            return;
        }

        var receipt = await sender.SendAsync(message, cancellationToken);
        metrics.SmsSent(args.Template, receipt.Encoding, receipt.Segments);
        logger.LogInformation("SMS {Template} of job {JobId} sent as {Segments} segment(s) of {Encoding}, id {MessageId}",
            args.Template, job.JobId, receipt.Segments, receipt.Encoding, receipt.Id);
    }

    private static PermanentJobException Malformed(string field) => new($"Malformed sms.send payload, discarded: '{field}' is required for this template.");

    private async Task<SmsMessage?> VerificationAsync(long verificationId, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand(VerificationSql).With("verification_id", verificationId).With("now", time.GetUtcNow());
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null; // verified, expired or superseded: the code is no use any more
        }

        var code = codes.Derive(SmsArgs.VerifyPurpose, verificationId, reader.Get<byte[]>("code_salt"));
        return new SmsMessage(reader.Get<string>("phone_number"), SmsTemplates.Verify(code));
    }

    private async Task<SmsMessage?> BookingMessageAsync(SmsArgs args, CancellationToken cancellationToken)
    {
        var bookingId = args.BookingId ?? throw Malformed("booking_id");
        string? phone;
        await using (var command = db.CreateCommand(PhoneSql.Replace("{opt_in}", SmsArgs.OptInColumn(args.Template), StringComparison.Ordinal)))
        {
            command.With("booking_id", bookingId);
            phone = await command.ExecuteScalarAsync(cancellationToken) as string;
        }

        if (phone is null || await SendEmail.LoadBookingAsync(db, bookingId, cancellationToken) is not { } booking)
        {
            return null;
        }

        return new SmsMessage(phone, args.Template switch
        {
            "booking_confirmed" => SmsTemplates.BookingConfirmed(booking),
            "payment_expired" => SmsTemplates.PaymentExpired(booking),
            "show_cancelled" => SmsTemplates.ShowCancelled(booking),
            "show_moved" => SmsTemplates.ShowMoved(booking),
            "reminder" => SmsTemplates.Reminder(booking),
            _ => throw new PermanentJobException($"Unknown SMS template '{args.Template}'."),
        });
    }

    // Only the latest code of the account is worth sending, and only while it can still be used.
    private const string VerificationSql = """
        select v.phone_number, v.code_salt
        from phone_verification v
        where v.phone_verification_id = @verification_id and v.verified_at is null and v.expires_at > @now
          and v.phone_verification_id = (select max(l.phone_verification_id) from phone_verification l where l.app_user_id = v.app_user_id)
        """;

    // The owner's number, when verified and still wanting this kind ({opt_in}: a customer_phone column from SmsArgs.OptInColumn).
    private const string PhoneSql = """
        select p.phone_number
        from booking b join customer_phone p on p.app_user_id = b.app_user_id
        where b.booking_id = @booking_id and p.verified_at is not null and p.{opt_in}
        """;
}

/// <summary>
/// The texts of SMS messages: plain GSM-7 where the data allows (no curly quotes, no ellipsis
/// character), the essentials first, cut to one segment when a long title would make two
/// (<see cref="SmsText.FitOneSegment"/>). A title outside GSM-7 (e.g. in Greek capitals with
/// accents, or Japanese) makes the message UCS-2, where one segment holds 70 characters.
/// </summary>
public static class SmsTemplates
{
    /// <summary>A phone verification code.</summary>
    public static string Verify(string code) => $"Holdfast code: {code}. It expires in 10 minutes. Never share it.";

    /// <summary>A booking paid and confirmed.</summary>
    public static string BookingConfirmed(EmailTemplates.Booking b) => Fit($"Holdfast: booking {b.BookingId} confirmed. {When(b)}, seats {Seats(b)}. {b.Title}");

    /// <summary>A booking whose payment deadline passed unpaid: the seats are released.</summary>
    public static string PaymentExpired(EmailTemplates.Booking b) => Fit($"Holdfast: booking {b.BookingId} expired unpaid; seats {Seats(b)} released. {b.Title}");

    /// <summary>A show cancelled; the booking refunded in full.</summary>
    public static string ShowCancelled(EmailTemplates.Booking b) => Fit($"Holdfast: CANCELLED {When(b)}. Booking {b.BookingId} refunded in full. {b.Title}");

    /// <summary>A show moved to another time.</summary>
    public static string ShowMoved(EmailTemplates.Booking b) => Fit($"Holdfast: NEW TIME {When(b)} for booking {b.BookingId}, seats {Seats(b)}. {b.Title}");

    /// <summary>A reminder before the show.</summary>
    public static string Reminder(EmailTemplates.Booking b) => Fit($"Holdfast reminder: {When(b)}, seats {Seats(b)}, booking {b.BookingId}. {b.Title}");

    private static string When(EmailTemplates.Booking b) => b.LocalStartsAt.ToString("ddd d MMM HH:mm", CultureInfo.InvariantCulture) + " local";

    private static string Seats(EmailTemplates.Booking b) => b.Seats.Count <= 4 ? string.Join(" ", b.Seats) : $"{string.Join(" ", b.Seats.Take(3))} +{b.Seats.Count - 3}";

    private static string Fit(string text) => SmsText.FitOneSegment(text);
}

/// <summary>Registers the SMS sender and its settings.</summary>
public sealed class SmsServices : IConfigureServices
{
    /// <inheritdoc />
    public void ConfigureServices(IServiceCollection services, IConfiguration configuration) => services.AddHoldfastSms();
}

using Holdfast.Infrastructure.Jobs;

namespace Holdfast.Features.Jobs;

/// <summary>
/// The <c>sms.send</c> job's arguments. Like <see cref="EmailArgs"/>: the slice that owns the event
/// decides who is told, in the same statement or transaction that queues the email
/// (<see cref="ForBookings"/>); Notifications (<c>SendSms</c>) only renders and sends, and checks
/// again at sending time that the customer still wants it (a STOP may have come in between).
/// </summary>
/// <param name="Template"><c>verify</c>, <c>booking_confirmed</c>, <c>payment_expired</c>, <c>show_cancelled</c>, <c>show_moved</c> or <c>reminder</c>.</param>
/// <param name="BookingId">The booking the message is about (all but <c>verify</c>).</param>
/// <param name="VerificationId">The phone verification whose code to send (<c>verify</c>).</param>
/// <param name="OffsetHours">Which reminder (<c>reminder</c>).</param>
/// <param name="Revision">Which move of the show, as Unix seconds of its new start (<c>show_moved</c>).</param>
public sealed record SmsArgs(string Template, long? BookingId = null, long? VerificationId = null, int? OffsetHours = null, long? Revision = null) : IJobArgs
{
    /// <inheritdoc />
    public static string Kind => "sms.send";

    /// <summary>The purpose under which phone verification codes are derived (<c>OneTimeCodes</c>): Accounts checks them, Notifications sends them.</summary>
    public const string VerifyPurpose = "phone-verify";

    /// <inheritdoc />
    public static JobInsertOptions Options { get; } = new(MaxAttempts: 10);

    /// <inheritdoc />
    public static string UniqueKeySql => """
        case a.template
          when 'verify' then 'verify:' || a.verification_id
          when 'reminder' then 'reminder:' || a.booking_id || ':' || a.offset_hours
          when 'show_moved' then 'show_moved:' || a.booking_id || ':' || a.revision
          else a.template || ':' || a.booking_id
        end
        """;

    /// <summary>One message per template and booking (per reminder or move where there are several); one per verification.</summary>
    public string UniqueKey() => Template switch
    {
        "verify" => $"verify:{VerificationId}",
        "reminder" => $"reminder:{BookingId}:{OffsetHours}",
        "show_moved" => $"show_moved:{BookingId}:{Revision}",
        _ => $"{Template}:{BookingId}",
    };

    /// <summary>The code of phone verification <paramref name="verificationId"/>.</summary>
    public static SmsArgs Verify(long verificationId) => new("verify", VerificationId: verificationId);

    /// <summary>The reminder <paramref name="offsetHours"/> before the show.</summary>
    public static SmsArgs Reminder(long bookingId, int offsetHours) => new("reminder", BookingId: bookingId, OffsetHours: offsetHours);

    /// <summary>The customer's choice that lets <paramref name="template"/> go out by SMS: a column of <c>customer_phone</c>.</summary>
    public static string OptInColumn(string template) => template switch
    {
        "booking_confirmed" or "payment_expired" => "notify_confirmation",
        "reminder" => "notify_reminder",
        "show_cancelled" or "show_moved" => "notify_show_changes",
        _ => throw new ArgumentOutOfRangeException(nameof(template), template, "No opt-in for this template."),
    };

    /// <summary>
    /// SQL (usable as a data-modifying CTE) queuing <paramref name="template"/> for each booking of
    /// <paramref name="bookings"/> (a query with a <c>booking_id</c> column, and <c>revision</c> for
    /// <c>show_moved</c>) whose customer has a verified number and wants this kind by SMS. Binds
    /// <c>@now</c>.
    /// </summary>
    public static string ForBookings(string template, string bookings) =>
        JobSql.Insert<SmsArgs>($"""
            select '{template}'::text as template, t.booking_id, {(template == "show_moved" ? "t.revision" : "null::bigint")} as revision,
                   @now as run_at, @now as created_at
            from ({bookings}) t
            join booking b on b.booking_id = t.booking_id
            join customer_phone p on p.app_user_id = b.app_user_id
            where p.verified_at is not null and p.{OptInColumn(template)}
            """, true, "template", "booking_id", "revision");
}

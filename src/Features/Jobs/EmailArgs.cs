using Holdfast.Infrastructure.Jobs;

namespace Holdfast.Features.Jobs;

/// <summary>
/// The <c>email.send</c> job's arguments. Which email (<see cref="Template"/>) about what: a booking
/// (most), an account (<c>welcome</c>), with the notice, attempt or offset that makes it one of a kind.
/// The slice that owns the event builds it with a factory below and decides who is told;
/// Notifications (<c>SendEmail</c>) only renders and sends.
/// </summary>
/// <param name="Template"><c>welcome</c>, <c>booking_confirmed</c>, <c>booking_cancelled</c>, <c>booking_expired</c>, <c>show_cancelled</c>,
/// <c>payment_failed</c>, <c>reminder</c> or <c>notice</c>.</param>
/// <param name="BookingId">The booking the email is about.</param>
/// <param name="UserId">The account (<c>welcome</c>).</param>
/// <param name="NoticeId">The organizer's notice (<c>notice</c>).</param>
/// <param name="AttemptId">The failed payment attempt (<c>payment_failed</c>).</param>
/// <param name="Reason">Why the payment failed (<c>payment_failed</c>).</param>
/// <param name="OffsetHours">Which reminder (<c>reminder</c>).</param>
public sealed record EmailArgs(string Template, long? BookingId = null, long? UserId = null, long? NoticeId = null, long? AttemptId = null,
    string? Reason = null, int? OffsetHours = null) : IJobArgs
{
    /// <inheritdoc />
    public static string Kind => "email.send";

    /// <inheritdoc />
    public static JobInsertOptions Options { get; } = new(MaxAttempts: 10);

    /// <inheritdoc />
    public static string UniqueKeySql => """
        case a.template
          when 'welcome' then 'welcome:' || a.user_id
          when 'notice' then 'notice:' || a.notice_id || ':' || a.booking_id
          when 'reminder' then 'reminder:' || a.booking_id || ':' || a.offset_hours
          when 'payment_failed' then 'payment_failed:' || a.attempt_id
          else a.template || ':' || a.booking_id
        end
        """;

    /// <summary>One email per template and booking (per notice, reminder or attempt where there are several).</summary>
    public string UniqueKey() => Template switch
    {
        "welcome" => $"welcome:{UserId}",
        "notice" => $"notice:{NoticeId}:{BookingId}",
        "reminder" => $"reminder:{BookingId}:{OffsetHours}",
        "payment_failed" => $"payment_failed:{AttemptId}",
        _ => $"{Template}:{BookingId}",
    };

    /// <summary>An email about <paramref name="bookingId"/>: <c>booking_confirmed</c>, <c>booking_cancelled</c>, <c>booking_expired</c> or <c>show_cancelled</c>.</summary>
    public static EmailArgs ForBooking(string template, long bookingId) => new(template, BookingId: bookingId);

    /// <summary>The welcome email of a new account.</summary>
    public static EmailArgs Welcome(long userId) => new("welcome", UserId: userId);

    /// <summary>A failed payment attempt; the booking stays payable.</summary>
    public static EmailArgs PaymentFailed(long bookingId, long attemptId, string reason) => new("payment_failed", BookingId: bookingId, AttemptId: attemptId, Reason: reason);

    /// <summary>The reminder <paramref name="offsetHours"/> before the show.</summary>
    public static EmailArgs Reminder(long bookingId, int offsetHours) => new("reminder", BookingId: bookingId, OffsetHours: offsetHours);
}

using Holdfast.Infrastructure.Jobs;

namespace Holdfast.Features.Jobs;

/// <summary>
/// The <c>reminder.send</c> job's arguments: one reminder of one booking, queued due at once by its
/// show's <see cref="ShowReminderArgs"/> job when that falls due.
/// </summary>
/// <param name="BookingId">The booking.</param>
/// <param name="ShowId">Its show, so a move or a cancellation of the show finds its reminders in one statement.</param>
/// <param name="OffsetHours">How long before the show it goes out.</param>
public sealed record ReminderArgs(long BookingId, long ShowId, int OffsetHours) : IJobArgs
{
    /// <inheritdoc />
    public static string Kind => "reminder.send";

    /// <inheritdoc />
    public static JobInsertOptions Options { get; } = new(MaxAttempts: 10);

    /// <inheritdoc />
    public static string UniqueKeySql => "'reminder:' || a.booking_id || ':' || a.offset_hours";

    /// <inheritdoc />
    public string UniqueKey() => $"reminder:{BookingId}:{OffsetHours}";
}

using Holdfast.Infrastructure.Jobs;

namespace Holdfast.Features.Jobs;

/// <summary>
/// The <c>reminder.show</c> job's arguments: one reminder round of one show, due
/// <paramref name="OffsetHours"/> before it starts. When it runs it queues a
/// <see cref="ReminderArgs"/> job for each booking then confirmed; the handler is
/// <c>Reminders/SendShowReminders</c>. One per show and offset, so a booking schedules nothing new
/// once the show has its reminders (decision 0033).
/// </summary>
/// <param name="ShowId">The show.</param>
/// <param name="OffsetHours">How long before the show's start it goes out, in elapsed hours.</param>
public sealed record ShowReminderArgs(long ShowId, int OffsetHours) : IJobArgs
{
    /// <inheritdoc />
    public static string Kind => "reminder.show";

    /// <inheritdoc />
    public static JobInsertOptions Options { get; } = new(MaxAttempts: 10);

    /// <inheritdoc />
    public static string UniqueKeySql => "'reminder-show:' || a.show_id || ':' || a.offset_hours";

    /// <inheritdoc />
    public string UniqueKey() => $"reminder-show:{ShowId}:{OffsetHours}";
}

using Holdfast.Features.Jobs;
using Holdfast.Features.Notifications;
using Holdfast.Features.Push;
using Holdfast.Infrastructure;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Jobs;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Holdfast.Features.Reminders;

/// <summary>Settings under <c>Reminders</c> in configuration.</summary>
public sealed class ReminderOptions
{
    /// <summary>
    /// How long before a show each reminder goes out, in hours of elapsed time (default 48 and 3).
    /// Elapsed, not wall-clock: "48 h before" across a daylight-saving change is still 48 real hours.
    /// </summary>
    [EachInRange(1, 8760)]
    public int[] OffsetsHours { get; set; } = [48, 3];
}

/// <summary>
/// Schedules, moves and drops reminder jobs. A show's reminders are a <see cref="ShowReminderArgs"/>
/// job per offset, with <c>run_at = starts_at − offset</c>, scheduled by its first confirmed booking
/// (later bookings find them and write nothing); when one falls due, <see cref="SendShowReminders"/>
/// queues a <see cref="ReminderArgs"/> job for each booking confirmed by then. Whoever else changes a
/// show uses the SQL here (<see cref="CancelForShowSql"/>, <see cref="MoveAsync"/>) rather than
/// spelling the kinds and payload out. A cancelled booking needs nothing: its reminder checks that
/// the booking is still confirmed when it runs.
/// </summary>
public static class ReminderSchedule
{
    // Both kinds, waiting, by show: the predicate of migration 0043's index (job_reminders_by_show_idx).
    private static readonly string OfShow =
        $"job.kind in ('{ReminderArgs.Kind}', '{ShowReminderArgs.Kind}') and job.{JobSql.Waiting} " +
        $"and {JobSql.Field<ShowReminderArgs>(nameof(ShowReminderArgs.ShowId))} = @show_id";

    /// <summary>SQL that cancels the waiting reminders of show <c>@show_id</c> at <c>@now</c>: usable as a data-modifying CTE.</summary>
    public static readonly string CancelForShowSql = $"update job set state = 'cancelled', finalized_at = @now where {OfShow}";

    /// <summary>
    /// The statement that schedules the reminders of a confirmed booking's show, skipping any whose
    /// time has passed, for the caller's batch (same transaction and round trip as the
    /// confirmation): it schedules nothing unless the booking is confirmed by then. Once the show
    /// has its reminders (every booking after the first) it only probes their unique key: no row
    /// written, no WAL.
    /// </summary>
    public static NpgsqlBatchCommand ScheduleCommand(long bookingId, ReminderOptions options, DateTimeOffset now) =>
        new NpgsqlBatchCommand(ScheduleSql).With("booking_id", bookingId).With("offsets", options.OffsetsHours).With("now", now);

    /// <summary>Moves every waiting reminder of a show (its rounds, and any booking's reminder not sent yet) to its new start.</summary>
    public static async Task MoveAsync(NpgsqlConnection connection, long showId, DateTimeOffset startsAt, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(MoveSql, connection);
        command.With("show_id", showId);
        command.With("starts_at", startsAt);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static readonly string ScheduleSql = JobSql.Insert<ShowReminderArgs>("""
        select b.show_id, o.hours as offset_hours, s.starts_at - make_interval(hours => o.hours) as run_at, @now as created_at
        from booking b
        join show s on s.show_id = b.show_id
        cross join unnest(@offsets) as o (hours)
        where b.booking_id = @booking_id and b.status = 'confirmed' and s.starts_at - make_interval(hours => o.hours) > @now
        """);

    private static readonly string MoveSql = $"""
        update job
        set run_at = @starts_at - make_interval(hours => {JobSql.Field<ShowReminderArgs>(nameof(ShowReminderArgs.OffsetHours))})
        where {OfShow}
        """;
}

/// <summary>
/// The <c>reminder.show</c> job: if the show is still on, queues a <c>reminder.send</c> job, due
/// now, for each of its bookings confirmed by now, in one statement. A booking whose reminder is
/// still waiting is skipped (its unique key), so a retried round queues nothing twice that has not
/// run yet; like every job it is run at least once.
/// </summary>
public sealed class SendShowReminders(NpgsqlDataSource db, TimeProvider time) : JobHandler<ShowReminderArgs>
{
    /// <inheritdoc />
    public override async Task HandleAsync(JobContext job, ShowReminderArgs args, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand(FanOutSql);
        command.With("show_id", args.ShowId).With("offset_hours", args.OffsetHours).With("now", time.GetUtcNow());
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static readonly string FanOutSql = JobSql.Insert<ReminderArgs>("""
        select b.booking_id, b.show_id, @offset_hours::int as offset_hours, @now as run_at, @now as created_at
        from booking b join show s on s.show_id = b.show_id
        where b.show_id = @show_id and b.status = 'confirmed' and s.status not in ('cancelled', 'completed')
        """);
}

/// <summary>
/// The <c>reminder.send</c> job: if the booking is still confirmed and the show still on, sends the
/// reminder by email, by SMS where the customer wants it, and by web push to each of the customer's browsers, each as its own job, so a
/// mail outage or a dead browser retries only itself.
/// </summary>
public sealed class SendReminder(NpgsqlDataSource db, JobOutbox outbox, TimeProvider time) : JobHandler<ReminderArgs>
{
    /// <inheritdoc />
    public override async Task HandleAsync(JobContext job, ReminderArgs args, CancellationToken cancellationToken)
    {
        var (bookingId, offset) = (args.BookingId, args.OffsetHours);
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await using var check = new NpgsqlCommand(LiveSql, connection);
        check.With("booking_id", bookingId);
        if (await check.ExecuteScalarAsync(cancellationToken) is not long ownerId)
        {
            return;
        }

        // Read before the transaction: it would otherwise hold this connection while taking another.
        var booking = await SendEmail.LoadBookingAsync(db, bookingId, cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await outbox.EnqueueAsync(connection, EmailArgs.Reminder(bookingId, offset), cancellationToken);
        await using (var sms = new NpgsqlCommand(ReminderSmsSql, connection).With("booking_id", bookingId).With("offset_hours", offset).With("now", time.GetUtcNow()))
        {
            await sms.ExecuteNonQueryAsync(cancellationToken);
        }
        if (booking is not null)
        {
            await using var push = new NpgsqlCommand(SendPush.EnqueueForUserSql, connection);
            push.With("user_id", ownerId);
            push.With("title", $"Reminder: {booking.Title}");
            push.With("body", $"{EmailTemplates.Local(booking)} · seats {string.Join(", ", booking.Seats)}");
            push.With("url", $"/bookings/{bookingId}");
            push.With("now", time.GetUtcNow());
            await push.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
    }

    // By SMS too where the customer wants reminders by SMS.
    private static readonly string ReminderSmsSql = JobSql.Insert<SmsArgs>($"""
        select 'reminder'::text as template, b.booking_id, @offset_hours::int as offset_hours, @now as run_at, @now as created_at
        from booking b join customer_phone p on p.app_user_id = b.app_user_id
        where b.booking_id = @booking_id and p.verified_at is not null and p.{SmsArgs.OptInColumn("reminder")}
        """, true, "template", "booking_id", "offset_hours");

    // The booking's owner when it is still worth reminding: confirmed, on a show still to come.
    private const string LiveSql = """
        select b.app_user_id
        from booking b join show s on s.show_id = b.show_id
        where b.booking_id = @booking_id and b.status = 'confirmed' and s.status not in ('cancelled', 'completed')
        """;
}

/// <summary>Registers <see cref="ReminderOptions"/>.</summary>
public sealed class ReminderServices : IConfigureServices
{
    /// <inheritdoc />
    public void ConfigureServices(IServiceCollection services, IConfiguration configuration) =>
        services.AddSettings<ReminderOptions>("Reminders");
}

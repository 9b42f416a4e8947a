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
/// Schedules, moves and drops reminder jobs. A reminder is a <see cref="ReminderArgs"/> job per
/// booking and offset, with <c>run_at = starts_at − offset</c>. Whoever else changes a booking or a
/// show uses the SQL here (<see cref="CancelForBookingSql"/>, <see cref="CancelForShowSql"/>) rather
/// than spelling the kind and payload out.
/// </summary>
public static class ReminderSchedule
{
    /// <summary>
    /// SQL that cancels the waiting reminders of booking <c>@booking_id</c> (when <paramref name="condition"/>,
    /// a SQL boolean, holds), at <c>@now</c>: usable as a data-modifying CTE.
    /// </summary>
    public static string CancelForBookingSql(string condition = "true") =>
        $"update job set state = 'cancelled', finalized_at = @now where {condition} and {JobSql.IsKind<ReminderArgs>()} and job.{JobSql.Waiting} " +
        $"and {JobSql.Field<ReminderArgs>(nameof(ReminderArgs.BookingId))} = @booking_id";

    /// <summary>SQL that cancels the waiting reminders of show <c>@show_id</c> at <c>@now</c>: usable as a data-modifying CTE.</summary>
    public static readonly string CancelForShowSql =
        $"update job set state = 'cancelled', finalized_at = @now where {JobSql.IsKind<ReminderArgs>()} and job.{JobSql.Waiting} " +
        $"and {JobSql.Field<ReminderArgs>(nameof(ReminderArgs.ShowId))} = @show_id";

    /// <summary>
    /// The statement that inserts the reminders of a confirmed booking, skipping any whose time has
    /// passed, for the caller's batch (same transaction and round trip as the confirmation): it
    /// schedules nothing unless the booking is confirmed by then.
    /// </summary>
    public static NpgsqlBatchCommand ScheduleCommand(long bookingId, ReminderOptions options, DateTimeOffset now) =>
        new NpgsqlBatchCommand(ScheduleSql).With("booking_id", bookingId).With("offsets", options.OffsetsHours).With("now", now);

    /// <summary>Moves every waiting reminder of a show to its new start.</summary>
    public static async Task MoveAsync(NpgsqlConnection connection, long showId, DateTimeOffset startsAt, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(MoveSql, connection);
        command.With("show_id", showId);
        command.With("starts_at", startsAt);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static readonly string ScheduleSql = JobSql.Insert<ReminderArgs>("""
        select b.booking_id, b.show_id, o.hours as offset_hours, s.starts_at - make_interval(hours => o.hours) as run_at, @now as created_at
        from booking b
        join show s on s.show_id = b.show_id
        cross join unnest(@offsets) as o (hours)
        where b.booking_id = @booking_id and b.status = 'confirmed' and s.starts_at - make_interval(hours => o.hours) > @now
        """);

    private static readonly string MoveSql = $"""
        update job
        set run_at = @starts_at - make_interval(hours => {JobSql.Field<ReminderArgs>(nameof(ReminderArgs.OffsetHours))})
        where {JobSql.IsKind<ReminderArgs>()} and job.{JobSql.Waiting} and {JobSql.Field<ReminderArgs>(nameof(ReminderArgs.ShowId))} = @show_id
        """;
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

using Holdfast.Features.Notifications;
using Holdfast.Features.Push;
using Holdfast.Infrastructure;
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
/// Schedules, moves and drops reminder jobs. A reminder is a <c>reminder.send</c> job per booking
/// and offset, with <c>run_at = starts_at − offset</c>; its payload names the show so a move or a
/// cancellation finds it in one statement.
/// </summary>
public static class ReminderSchedule
{
    /// <summary>The job kind.</summary>
    public const string JobKind = "reminder.send";

    /// <summary>Inserts the reminders of a confirmed booking, skipping any whose time has passed (same transaction as the booking).</summary>
    public static async Task ScheduleAsync(NpgsqlConnection connection, long bookingId, ReminderOptions options, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(ScheduleSql, connection);
        command.Parameters.Add(new NpgsqlParameter<long>("booking_id", bookingId));
        command.Parameters.Add(new NpgsqlParameter<int[]>("offsets", options.OffsetsHours));
        command.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", now));
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Moves every waiting reminder of a show to its new start.</summary>
    public static async Task MoveAsync(NpgsqlConnection connection, long showId, DateTimeOffset startsAt, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(MoveSql, connection);
        command.Parameters.Add(new NpgsqlParameter<long>("show_id", showId));
        command.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("starts_at", startsAt));
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private const string ScheduleSql = """
        insert into job (kind, queue, payload, run_at, unique_key, max_attempts, created_at)
        select 'reminder.send', 'default',
               jsonb_build_object('booking_id', b.booking_id, 'show_id', b.show_id, 'offset_hours', o.hours),
               s.starts_at - make_interval(hours => o.hours), 'reminder:' || b.booking_id || ':' || o.hours, 10, @now
        from booking b
        join show s on s.show_id = b.show_id
        cross join unnest(@offsets) as o (hours)
        where b.booking_id = @booking_id and s.starts_at - make_interval(hours => o.hours) > @now
        on conflict (kind, unique_key) where unique_key is not null and state in ('available', 'running', 'retryable') do nothing
        """;

    private const string MoveSql = """
        update job
        set run_at = @starts_at - make_interval(hours => (payload->>'offset_hours')::int)
        where kind = 'reminder.send' and state in ('available', 'retryable') and (payload->>'show_id')::bigint = @show_id
        """;
}

/// <summary>
/// The <c>reminder.send</c> job: if the booking is still confirmed and the show still on, sends the
/// reminder by email and by web push to each of the customer's browsers, each as its own job, so a
/// mail outage or a dead browser retries only itself.
/// </summary>
public sealed class SendReminder(NpgsqlDataSource db, JobOutbox outbox, TimeProvider time) : IJobHandler
{
    /// <inheritdoc />
    public string Kind => ReminderSchedule.JobKind;

    /// <inheritdoc />
    public async Task HandleAsync(JobContext job, CancellationToken cancellationToken)
    {
        var bookingId = job.Payload.GetProperty("booking_id").GetInt64();
        var offset = job.Payload.GetProperty("offset_hours").GetInt32();
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await using var check = new NpgsqlCommand(LiveSql, connection);
        check.Parameters.Add(new NpgsqlParameter<long>("booking_id", bookingId));
        if (await check.ExecuteScalarAsync(cancellationToken) is not long ownerId)
        {
            return;
        }

        // Read before the transaction: it would otherwise hold this connection while taking another.
        var booking = await SendEmail.LoadBookingAsync(db, bookingId, cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await outbox.EnqueueAsync(connection, SendEmail.ForBooking("reminder", bookingId) with { UniqueKey = $"reminder:{bookingId}:{offset}" }, cancellationToken);
        if (booking is not null)
        {
            await using var push = new NpgsqlCommand(SendPush.EnqueueForUserSql, connection);
            push.Parameters.Add(new NpgsqlParameter<long>("user_id", ownerId));
            push.Parameters.Add(new NpgsqlParameter<string>("title", $"Reminder: {booking.Title}"));
            push.Parameters.Add(new NpgsqlParameter<string>("body", $"{EmailTemplates.Local(booking)} · seats {string.Join(", ", booking.Seats)}"));
            push.Parameters.Add(new NpgsqlParameter<string>("url", $"/bookings/{bookingId}"));
            push.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", time.GetUtcNow()));
            await push.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
    }

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

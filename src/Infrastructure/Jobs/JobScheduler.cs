using Holdfast.Infrastructure.Database;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Holdfast.Infrastructure.Jobs;

/// <summary>A recurring job: every slot of <paramref name="Schedule"/> enqueues one job of <paramref name="Kind"/>.</summary>
/// <param name="Name">Unique name; also the prefix of each run's unique key (<c>name:slot</c>).</param>
/// <param name="Schedule">See <see cref="Cron"/>.</param>
/// <param name="Kind">The job kind to enqueue.</param>
/// <param name="Queue">Its queue.</param>
public sealed record RecurringJob(string Name, string Schedule, string Kind, string Queue = "default")
{
    /// <summary>A recurring job of <typeparamref name="TArgs"/>'s kind and queue (its args are read from <c>{schedule, slot}</c>).</summary>
    public static RecurringJob Of<TArgs>(string name, string schedule) where TArgs : IJobArgs => new(name, schedule, TArgs.Kind, TArgs.Options.Queue);
}

/// <summary>The payload of every recurring run: the schedule's name and the slot it runs for.</summary>
/// <param name="Schedule">The <see cref="RecurringJob.Name"/>.</param>
/// <param name="Slot">The slot (UTC).</param>
public abstract record ScheduledRun(string? Schedule = null, DateTimeOffset? Slot = null);

/// <summary>
/// Enqueues recurring jobs. Every node runs it; each slot is claimed by one node with a
/// compare-and-set on <c>job_schedule.next_run_at</c>, and the job's unique key is a second guard.
/// A node that was down for several slots runs the schedule once and moves on to the next future
/// slot rather than replaying the ones it missed.
/// </summary>
public sealed class JobScheduler(
    NpgsqlDataSource dataSource, JobOutbox outbox, IEnumerable<RecurringJob> schedules, IOptions<JobOptions> options, TimeProvider time,
    ILogger<JobScheduler> logger) : BackgroundService
{
    private readonly Dictionary<string, (RecurringJob Job, Cron Cron)> byName =
        schedules.ToDictionary(s => s.Name, s => (s, Cron.Parse(s.Schedule)), StringComparer.Ordinal);

    /// <summary>Registers the schedules in <c>job_schedule</c> (done at start; tests call it directly).</summary>
    public async Task RegisterAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        foreach (var (job, cron) in byName.Values)
        {
            await using var command = dataSource.CreateCommand(RegisterSql);
            command.With("name", job.Name);
            command.With("schedule", job.Schedule);
            command.With("kind", job.Kind);
            command.With("queue", job.Queue);
            command.With("next_run_at", cron.Next(now));
            await command.ExecuteNonQueryAsync(cancellationToken);
        }
    }

    /// <summary>Enqueues every slot that is due; returns how many this node claimed.</summary>
    public async Task<int> TickAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var due = new List<(string Name, DateTime Slot)>();
        await using (var command = dataSource.CreateCommand(DueSql))
        {
            command.With("now", now);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                due.Add((reader.Get<string>("name"), reader.Get<DateTime>("next_run_at")));
            }
        }

        var claimed = 0;
        foreach (var (name, slot) in due)
        {
            if (!byName.TryGetValue(name, out var schedule))
            {
                continue;
            }

            var slotAt = new DateTimeOffset(slot, TimeSpan.Zero);
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            await using var claim = new NpgsqlCommand(ClaimSql, connection);
            claim.With("name", name);
            claim.With("slot", slotAt);
            // A due slot is never after now, so the next one comes after now (missed slots are skipped).
            claim.With("next", schedule.Cron.Next(now));
            if (await claim.ExecuteNonQueryAsync(cancellationToken) == 1)
            {
                await outbox.EnqueueAsync(connection, new JobRequest(schedule.Job.Kind, new { schedule = name, slot = slotAt }, slotAt, schedule.Job.Queue,
                    UniqueKey: $"{name}:{slotAt.UtcTicks}"), cancellationToken);
                claimed++;
            }

            await transaction.CommitAsync(cancellationToken);
        }

        return claimed;
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Value.Enabled || byName.Count == 0)
        {
            return;
        }

        try
        {
            await RegisterAsync(stoppingToken);
            using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1), time);
            do
            {
                try
                {
                    await TickAsync(stoppingToken);
                }
                catch (NpgsqlException ex)
                {
                    logger.LogWarning(ex, "Scheduler tick failed; trying again next second");
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down.
        }
    }

    // A changed schedule restarts from its next slot; an unchanged one keeps its place.
    private const string RegisterSql = """
        insert into job_schedule (name, schedule, kind, queue, next_run_at)
        values (@name, @schedule, @kind, @queue, @next_run_at)
        on conflict (name) do update
        set kind = excluded.kind, queue = excluded.queue, schedule = excluded.schedule,
            next_run_at = case when job_schedule.schedule = excluded.schedule then job_schedule.next_run_at else excluded.next_run_at end
        """;

    private const string DueSql = "select name, next_run_at from job_schedule where next_run_at <= @now";

    private const string ClaimSql = """
        update job_schedule set next_run_at = @next, last_run_at = @slot where name = @name and next_run_at = @slot
        """;
}

/// <summary>
/// <c>jobs.prune</c>: deletes jobs finalized longer ago than <see cref="JobOptions.RetentionHours"/>,
/// 5,000 rows per statement so no transaction holds many locks or bloats at once.
/// </summary>
public sealed class PruneJobs(NpgsqlDataSource dataSource, IOptions<JobOptions> options, TimeProvider time) : JobHandler<PruneJobsArgs>
{
    /// <inheritdoc />
    public override async Task HandleAsync(JobContext job, PruneJobsArgs args, CancellationToken cancellationToken)
    {
        var cutoff = time.GetUtcNow().AddHours(-options.Value.RetentionHours);
        int deleted;
        do
        {
            await using var command = dataSource.CreateCommand(DeleteSql);
            command.With("cutoff", cutoff);
            deleted = await command.ExecuteNonQueryAsync(cancellationToken);
        }
        while (deleted == 5000);
    }

    private const string DeleteSql = """
        delete from job where job_id in (
          select job_id from job where finalized_at < @cutoff order by finalized_at limit 5000
        )
        """;
}

/// <summary>
/// <c>jobs.noop</c>: does nothing, or with payload <c>{"sleep_ms": n}</c> waits n milliseconds. It
/// measures the engine itself (claim, run, complete) in the benchmark suite, and in failure drills
/// keeps a job leased while its node is killed.
/// </summary>
public sealed class NoopJob : JobHandler<NoopJobArgs>
{
    /// <inheritdoc />
    public override Task HandleAsync(JobContext job, NoopJobArgs args, CancellationToken cancellationToken) =>
        args.SleepMs is { } sleep ? Task.Delay(sleep, cancellationToken) : Task.CompletedTask;
}

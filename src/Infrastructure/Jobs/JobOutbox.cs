using System.Collections.Concurrent;
using System.Text.Json;
using Holdfast.Infrastructure.Database;
using Npgsql;
using NpgsqlTypes;

namespace Holdfast.Infrastructure.Jobs;

/// <summary>A job to insert, spelled out by hand; slices enqueue typed <see cref="IJobArgs"/> instead.</summary>
/// <param name="Kind">The handler key, e.g. <c>email.send</c>.</param>
/// <param name="Payload">Serialized to jsonb (snake_case); an <see cref="IJobArgs"/> record for a typed kind.</param>
/// <param name="RunAt">UTC instant it becomes due; null for now.</param>
/// <param name="Queue">The queue, e.g. <c>default</c>.</param>
/// <param name="Priority">1 (first) to 4.</param>
/// <param name="UniqueKey">When set, at most one live (available, running, retryable) job of this kind has it.</param>
/// <param name="MaxAttempts">Attempts before the job is discarded.</param>
public sealed record JobRequest(string Kind, object? Payload = null, DateTimeOffset? RunAt = null, string Queue = "default",
    short Priority = 2, string? UniqueKey = null, int MaxAttempts = 20);

/// <summary>
/// Inserts jobs in the caller's transaction (the outbox pattern: the job exists exactly when the
/// change that needs it committed). A job due now also wakes workers through
/// <c>NOTIFY holdfast_jobs</c>, but at most once per queue per <see cref="NotifyInterval"/> from this
/// process: NOTIFY serializes committing transactions on a global lock, so one per insert would
/// cap throughput; workers poll anyway, so a skipped notification only costs latency.
/// </summary>
public sealed class JobOutbox(TimeProvider time)
{
    /// <summary>The NOTIFY channel workers listen on; the payload is the queue name.</summary>
    public const string Channel = "holdfast_jobs";

    /// <summary>Shortest gap between two notifications for one queue from this process.</summary>
    public static readonly TimeSpan NotifyInterval = TimeSpan.FromMilliseconds(250);

    private static readonly JsonSerializerOptions Json = JobArgs.Json;
    private readonly ConcurrentDictionary<string, long> lastNotified = new(StringComparer.Ordinal);

    /// <summary>
    /// Inserts a job of <typeparamref name="TArgs"/>'s kind with <paramref name="args"/> as its payload,
    /// the kind's queue, priority and attempts, and the args' unique key, due at
    /// <paramref name="runAt"/> (null: now). Returns its id, or null when a live job with its unique key exists.
    /// </summary>
    public Task<long?> EnqueueAsync<TArgs>(NpgsqlConnection connection, TArgs args, CancellationToken cancellationToken, DateTimeOffset? runAt = null)
        where TArgs : IJobArgs
    {
        var options = TArgs.Options;
        return EnqueueAsync(connection, new JobRequest(TArgs.Kind, args, runAt, options.Queue, options.Priority, args.UniqueKey(), options.MaxAttempts),
            cancellationToken);
    }

    /// <summary>
    /// Inserts <paramref name="job"/>, spelled out by hand (tests, tools); slices use the typed
    /// overload. Returns its id, or null when a live job with its unique key exists.
    /// </summary>
    public async Task<long?> EnqueueAsync(NpgsqlConnection connection, JobRequest job, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var runAt = job.RunAt ?? now;
        var notify = runAt <= now && ShouldNotify(job.Queue, now);
        await using var command = new NpgsqlCommand(notify ? InsertAndNotifySql : InsertSql, connection);
        command.With("kind", job.Kind);
        command.With("queue", job.Queue);
        command.With("priority", job.Priority);
        command.With("payload", JsonSerializer.Serialize(job.Payload ?? new { }, Json), NpgsqlDbType.Jsonb);
        command.With("run_at", runAt);
        command.With("unique_key", job.UniqueKey);
        command.With("max_attempts", job.MaxAttempts);
        command.With("now", now);
        return await command.ExecuteScalarAsync(cancellationToken) as long?;
    }

    /// <summary>
    /// Wakes the workers of <paramref name="queue"/> for jobs due now that the caller inserted with
    /// its own SQL (a set of them in one statement), under the same per-queue limit as
    /// <see cref="EnqueueAsync"/>. The notification is sent when the caller's transaction commits;
    /// without it, such jobs wait for the workers' next poll.
    /// </summary>
    public async Task WakeAsync(NpgsqlConnection connection, string queue, CancellationToken cancellationToken)
    {
        if (!ShouldNotify(queue, time.GetUtcNow()))
        {
            return;
        }

        await using var command = new NpgsqlCommand(NotifySql, connection);
        command.With("queue", queue);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private bool ShouldNotify(string queue, DateTimeOffset now)
    {
        var ticks = now.UtcTicks;
        var last = lastNotified.GetOrAdd(queue, 0);
        return ticks - last >= NotifyInterval.Ticks && lastNotified.TryUpdate(queue, ticks, last);
    }

    // ON CONFLICT on the partial unique index: a live duplicate is skipped, not an error.
    private const string InsertSql = """
        insert into job (kind, queue, priority, payload, run_at, unique_key, max_attempts, created_at)
        values (@kind, @queue, @priority, @payload, @run_at, @unique_key, @max_attempts, @now)
        on conflict (kind, unique_key) where unique_key is not null and state in ('available', 'running', 'retryable') do nothing
        returning job_id
        """;

    private const string NotifySql = "select pg_notify('" + Channel + "', @queue)";

    private const string InsertAndNotifySql = InsertSql + ";\n" + NotifySql + ";";
}

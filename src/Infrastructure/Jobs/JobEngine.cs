using System.Collections.Concurrent;
using System.ComponentModel.DataAnnotations;
using System.Reflection;
using System.Text.Json;
using System.Threading.Channels;
using Holdfast.Infrastructure.Database;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;

namespace Holdfast.Infrastructure.Jobs;

/// <summary>One claimed job as a handler sees it.</summary>
/// <param name="JobId">The <c>job.job_id</c>.</param>
/// <param name="Kind">The handler key, e.g. <c>hold.expire</c>.</param>
/// <param name="Payload">The job's jsonb payload.</param>
/// <param name="Attempt">1 on the first run, incremented on each claim.</param>
/// <param name="MaxAttempts">After this many failed attempts the job is discarded.</param>
public sealed record JobContext(long JobId, string Kind, JsonElement Payload, int Attempt, int MaxAttempts)
{
    /// <summary>The payload read into the kind's <see cref="IJobArgs"/> record by the engine, before the handler runs; null for an untyped handler.</summary>
    public object? Args { get; init; }
}

/// <summary>
/// Runs one kind of job. Handlers live in the slice that owns the work (hold expiry in
/// <c>Features/Holds</c>) and are found by assembly scan, like modules. A handler must be idempotent:
/// a job whose worker died after the work but before completion runs again.
/// </summary>
public interface IJobHandler
{
    /// <summary>The <c>job.kind</c> this handler runs.</summary>
    string Kind { get; }

    /// <summary>Does the work. Throwing marks the attempt failed and schedules a retry with backoff.</summary>
    Task HandleAsync(JobContext job, CancellationToken cancellationToken);

    /// <summary>
    /// The payload as this kind's args record (<see cref="JobHandler{TArgs}"/>), read once by the engine
    /// before <see cref="HandleAsync"/>; null for a handler that reads <see cref="JobContext.Payload"/> itself.
    /// </summary>
    /// <exception cref="PermanentJobException">The payload is malformed: the job is discarded at once.</exception>
    object? ReadArgs(JsonElement payload) => null;
}

/// <summary>
/// Thrown by a handler when retrying cannot help (a refused address, a malformed payload): the job
/// is discarded at once, with this message kept as its last error.
/// </summary>
public sealed class PermanentJobException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>Settings under <c>Jobs</c> in configuration.</summary>
public sealed class JobOptions : IValidatableObject
{
    /// <summary>Run the worker in this process (default true).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Queues this node works, e.g. <c>["default", "holds"]</c>.</summary>
    public string[] Queues { get; set; } = ["default", "holds"];

    /// <summary>Longest wait between claim attempts when idle, in milliseconds (default 250).</summary>
    [Range(1, 60_000)]
    public int PollIntervalMilliseconds { get; set; } = 250;

    /// <summary>Most jobs run concurrently by this node per queue (default 16); a free slot is claimed again at once.</summary>
    [Range(1, 1000)]
    public int BatchSize { get; set; } = 16;

    /// <summary>Lease length in seconds; heartbeats renew it at a third of that (default 60).</summary>
    [Range(1, 3600)]
    public int LeaseSeconds { get; set; } = 60;

    /// <summary>How often lapsed leases are looked for, in seconds (default 15).</summary>
    [Range(1, 3600)]
    public int RescueIntervalSeconds { get; set; } = 15;

    /// <summary>On shutdown, how long running jobs may take before their leases are handed back, in seconds (default 10).</summary>
    [Range(0, 300)]
    public int ShutdownGraceSeconds { get; set; } = 10;

    /// <summary>Hours finished jobs are kept before <c>jobs.prune</c> deletes them (default 24).</summary>
    [Range(1, 8760)]
    public int RetentionHours { get; set; } = 24;

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        // A worker with no queue would claim nothing while appearing to run.
        if (Enabled && (Queues.Length == 0 || Queues.Any(string.IsNullOrWhiteSpace)))
        {
            yield return new ValidationResult("must name at least one queue, none empty, when Enabled.", [nameof(Queues)]);
        }
    }
}

/// <summary>Registration of the job engine and its handlers.</summary>
public static class JobSetup
{
    /// <summary>Adds <see cref="JobWorker"/> and every <see cref="IJobHandler"/> in <paramref name="assembly"/>.</summary>
    public static IServiceCollection AddJobs(this IServiceCollection services, IConfiguration configuration, Assembly assembly)
    {
        services.AddSettings<JobOptions>("Jobs");
        foreach (var type in assembly.GetTypes().Where(t => t is { IsClass: true, IsAbstract: false } && typeof(IJobHandler).IsAssignableFrom(t)))
        {
            services.AddSingleton(typeof(IJobHandler), type);
        }

        services.AddSingleton<JobOutbox>();
        services.AddSingleton<JobWorker>();
        services.AddHostedService(sp => sp.GetRequiredService<JobWorker>());
        services.AddSingleton(RecurringJob.Of<PruneJobsArgs>("jobs.prune", "@every 10m"));
        services.AddSingleton<JobScheduler>();
        services.AddHostedService(sp => sp.GetRequiredService<JobScheduler>());
        return services;
    }
}

/// <summary>
/// The claim loop: takes due jobs with <c>FOR UPDATE SKIP LOCKED</c> (so any number of nodes share
/// the table without blocking each other), leases them, runs up to <see cref="JobOptions.BatchSize"/>
/// handlers at once, claims again as soon as one finishes, and writes completions in batches as they
/// come. Failures retry with exponential backoff and jitter; a lease that lapses
/// (its node died) is rescued by any node. Modelled on riverqueue/river's <c>JobGetAvailable</c>.
/// </summary>
public sealed class JobWorker(
    NpgsqlDataSource dataSource,
    IEnumerable<IJobHandler> handlers,
    IOptions<JobOptions> options,
    TimeProvider time,
    HoldfastMetrics metrics,
    ILogger<JobWorker> logger) : BackgroundService
{
    private readonly Dictionary<string, IJobHandler> handlersByKind = handlers.ToDictionary(h => h.Kind, StringComparer.Ordinal);
    // Jobs this worker holds a lease on: running, or finished and waiting for their outcome to be
    // written. The heartbeat renews exactly these.
    // A lease found lost (renewed or completed by no row: the job was rescued) is reported once as
    // "lost its lease while running", the one way a job can run on two nodes at once.
    private readonly ConcurrentDictionary<long, Lease> inFlight = new();
    // Running jobs per queue: each queue has its own BatchSize slots, so a queue whose jobs hang
    // (emails to an SMTP server that never answers) cannot take the slots of another (hold expiry).
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<long, Task>> running = new(StringComparer.Ordinal);
    private readonly Channel<Outcome> outcomes = Channel.CreateUnbounded<Outcome>(new UnboundedChannelOptions { SingleReader = true });
    private readonly SemaphoreSlim wake = new(0, 1);
    private readonly string workerId = $"{Environment.MachineName}:{Environment.ProcessId}:{Guid.NewGuid().ToString("N")[..8]}";

    /// <summary>Claims now instead of at the next poll (e.g. after inserting a job due immediately).</summary>
    public void Wake()
    {
        try
        {
            wake.Release();
        }
        catch (SemaphoreFullException)
        {
            // Already signalled; one wake-up is enough.
        }
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        if (!settings.Enabled)
        {
            return;
        }

        using var graceful = new CancellationTokenSource();
        // The grace period starts when stopping starts: jobs still running then get that long to
        // finish, after which their handlers are cancelled and their jobs handed back.
        using var stopping = stoppingToken.Register(() => graceful.CancelAfter(TimeSpan.FromSeconds(settings.ShutdownGraceSeconds)));
        var heartbeat = HeartbeatAsync(stoppingToken);
        var listener = ListenAsync(settings, stoppingToken);
        var outcomeWriter = WriteOutcomesLoopAsync(graceful.Token);
        var nextRescue = DateTimeOffset.MinValue;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                try
                {
                    if (time.GetUtcNow() >= nextRescue)
                    {
                        await RescueAsync(stoppingToken);
                        nextRescue = time.GetUtcNow().AddSeconds(settings.RescueIntervalSeconds);
                    }

                    // Claim, per queue, only as many as there are free slots, and claim again as soon
                    // as one frees: a job that hangs (an SMTP server that never answers) holds its
                    // own slot and nothing else, and the holds queue has slots of its own, so hold
                    // expiry never waits behind email.
                    var claimedAll = false;
                    foreach (var queue in settings.Queues)
                    {
                        var slots = running.GetOrAdd(queue, _ => new ConcurrentDictionary<long, Task>());
                        var free = settings.BatchSize - slots.Count;
                        if (free <= 0)
                        {
                            continue;
                        }

                        var jobs = await ClaimAsync(settings, queue, free, stoppingToken);
                        foreach (var job in jobs)
                        {
                            // The job is entered in its slots before it may start, so its own removal
                            // when it ends can never come first and leave a finished job holding a slot.
                            var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                            slots[job.JobId] = RunAsync(job, slots, entered.Task, graceful.Token);
                            entered.SetResult();
                        }

                        claimedAll |= jobs.Count == free;
                    }

                    if (!claimedAll)
                    {
                        await WaitForWorkAsync(settings, stoppingToken);
                    }
                }
                catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
                {
                    break;
                }
                catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException or TimeoutException)
                {
                    logger.LogWarning(ex, "Job claim loop failed; retrying after the poll interval");
                    if (Http.DatabaseOutage.IsUnavailable(ex))
                    {
                        // After a database restart every idle pooled connection is dead, and each
                        // would fail one claim or one handler in turn before the work resumes: drop
                        // them all now, so the first attempt after the return opens a live one.
                        dataSource.Clear();
                    }

                    await WaitForWorkAsync(settings, stoppingToken);
                }
            }
        }
        finally
        {
            await Task.WhenAll(running.Values.SelectMany(slots => slots.Values));
            outcomes.Writer.TryComplete();
            await outcomeWriter;
            await heartbeat;
            await listener;
        }
    }

    // One LISTEN connection per worker: a job inserted due now (see JobOutbox) wakes the claim loop
    // instead of waiting for the next poll. Polling still covers a lost connection or notification.
    private Task ListenAsync(JobOptions settings, CancellationToken stoppingToken)
    {
        var queues = settings.Queues.ToHashSet(StringComparer.Ordinal);
        return Database.NotificationListener.RunAsync(dataSource, [JobOutbox.Channel], e =>
        {
            if (queues.Contains(e.Payload))
            {
                Wake();
            }
        }, onListening: () => { }, onLost: () => { }, "Job listener", logger, TimeProvider.System, stoppingToken);
    }

    private async Task WaitForWorkAsync(JobOptions settings, CancellationToken stoppingToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        timeout.CancelAfter(TimeSpan.FromMilliseconds(settings.PollIntervalMilliseconds));
        try
        {
            await wake.WaitAsync(timeout.Token);
        }
        catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
        {
            // Poll interval elapsed.
        }
    }

    private async Task<List<JobContext>> ClaimAsync(JobOptions settings, string queue, int limit, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        await using var command = dataSource.CreateCommand(ClaimSql);
        command.With("queue", queue);
        command.With("now", now);
        command.With("limit", limit);
        command.With("worker", workerId);
        command.With("lease_until", now.AddSeconds(settings.LeaseSeconds));
        var jobs = new List<JobContext>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        // The claim is the engine's measured path (bench: jobs.noop): the columns are found by name
        // once per batch, not once per row as reader.Get<T>(name) would.
        var (id, kind, payloadText, attempt, maxAttempts) = (reader.GetOrdinal("job_id"), reader.GetOrdinal("kind"), reader.GetOrdinal("payload"),
            reader.GetOrdinal("attempt"), reader.GetOrdinal("max_attempts"));
        while (await reader.ReadAsync(cancellationToken))
        {
            using var payload = JsonDocument.Parse(reader.GetString(payloadText));
            jobs.Add(new JobContext(reader.GetInt64(id), reader.GetString(kind), payload.RootElement.Clone(), reader.GetInt32(attempt), reader.GetInt32(maxAttempts)));
        }

        foreach (var job in jobs)
        {
            if (!inFlight.TryAdd(job.JobId, new Lease(job)) && inFlight.TryGetValue(job.JobId, out var earlier))
            {
                // Its lease lapsed while an earlier run here still went on, and was claimed again.
                ReportLost(earlier);
            }
        }

        return jobs;
    }

    private async Task RunAsync(JobContext job, ConcurrentDictionary<long, Task> slots, Task entered, CancellationToken cancellationToken)
    {
        await entered; // completes asynchronously: the claim loop goes on while this job runs
        try
        {
            // The job stays leased (heartbeated) until the outcome writer has recorded its outcome,
            // however long the database takes to come back: a failure seen during an outage is
            // written once it ends (and retries at once, its retry time having passed) instead of
            // waiting for the lease to lapse and a rescue.
            outcomes.Writer.TryWrite(await RunHandlerAsync(job, cancellationToken));
        }
        finally
        {
            slots.TryRemove(job.JobId, out _);
            Wake(); // a slot is free
        }
    }

    // Runs the handler and says what became of the job; nothing is written here.
    private async Task<Outcome> RunHandlerAsync(JobContext job, CancellationToken cancellationToken)
    {
        if (!handlersByKind.TryGetValue(job.Kind, out var handler))
        {
            return Outcome.Failed(job, $"No handler for job kind '{job.Kind}'.", discard: true, time.GetUtcNow());
        }

        try
        {
            // Read once, here: a malformed payload is discarded now with its error, not retried
            // MaxAttempts times over days by a handler failing the same way each time.
            job = job with { Args = handler.ReadArgs(job.Payload) };
            await handler.HandleAsync(job, cancellationToken);
            return Outcome.Ended(job, OutcomeKind.Completed, time.GetUtcNow());
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return Outcome.Ended(job, OutcomeKind.HandBack, time.GetUtcNow());
        }
        catch (PermanentJobException ex)
        {
            logger.LogWarning(ex, "Job {JobId} ({Kind}) failed permanently", job.JobId, job.Kind);
            return Outcome.Failed(job, ex.Message, discard: true, time.GetUtcNow());
        }
        catch (Exception ex)
        {
            logger.LogWarning(ex, "Job {JobId} ({Kind}) attempt {Attempt} failed", job.JobId, job.Kind, job.Attempt);
            // The database went away under the job: nothing about the job itself needs time to
            // heal, so it is due again the moment its failure can be written (the database is back).
            // Only a failure that came through Npgsql counts (DatabaseOutage.IsUnavailable): an SMTP
            // server refusing connections backs off as before.
            var outcome = Outcome.Failed(job, ex.Message, discard: false, time.GetUtcNow());
            return Http.DatabaseOutage.IsUnavailable(ex) ? outcome with { RetryAt = outcome.At } : outcome;
        }
    }

    // Writes outcomes as jobs finish: completions in one statement for whatever has finished
    // meanwhile (River's batched completer does the same), so one slow job never holds back the
    // others'; failures and hand-backs one by one. A write that fails is retried every 250 ms, the
    // jobs kept leased by the heartbeat until it lands. Only shutdown ends the retries, once its grace
    // period is over: those leases then lapse and any node's rescue retries the jobs.
    private async Task WriteOutcomesLoopAsync(CancellationToken graceOver)
    {
        var batch = new List<Outcome>();
        while (await outcomes.Reader.WaitToReadAsync(CancellationToken.None))
        {
            while (batch.Count < 1000 && outcomes.Reader.TryRead(out var outcome))
            {
                batch.Add(outcome);
            }

            while (batch.Count > 0)
            {
                try
                {
                    var retries = batch.Any(o => o.Kind is OutcomeKind.Retry or OutcomeKind.HandBack);
                    await WriteOutcomesAsync(batch);
                    if (retries)
                    {
                        Wake(); // a job due again now is claimed now
                    }
                }
                catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException or TimeoutException or IOException)
                {
                    if (graceOver.IsCancellationRequested)
                    {
                        logger.LogWarning(ex, "Recording {Count} job outcomes failed while shutting down; their leases will lapse and they will be rescued", batch.Count);
                        ForgetAll(batch);
                        break;
                    }

                    logger.LogWarning(ex, "Recording {Count} job outcomes failed; retrying", batch.Count);
                    try
                    {
                        await Task.Delay(OutcomeRetryInterval, time, graceOver);
                    }
                    catch (OperationCanceledException)
                    {
                        // Shutdown's grace is over: one last try.
                    }
                }
            }
        }

        void ForgetAll(List<Outcome> written)
        {
            foreach (var outcome in written)
            {
                inFlight.TryRemove(outcome.Job.JobId, out _);
            }

            written.Clear();
        }
    }

    // Writes and removes from batch each outcome that lands; throws at the first that does not.
    private async Task WriteOutcomesAsync(List<Outcome> batch)
    {
        foreach (var outcome in batch)
        {
            // From here the heartbeat leaves the check of this lease to the write below: a write
            // that lands ends the lease, and the next beat must not take that for a loss.
            if (inFlight.TryGetValue(outcome.Job.JobId, out var lease))
            {
                lease.Writing = true;
            }
        }

        var completed = batch.Where(o => o.Kind == OutcomeKind.Completed).ToList();
        if (completed.Count > 0)
        {
            var written = await CompleteAsync([.. completed.Select(o => o.Job.JobId)]);
            foreach (var outcome in completed)
            {
                metrics.JobFinished(outcome.Job.Kind, "completed");
                Release(outcome.Job, written.Contains(outcome.Job.JobId));
            }

            batch.RemoveAll(o => o.Kind == OutcomeKind.Completed);
        }

        foreach (var outcome in batch.ToList())
        {
            var written = outcome.Kind == OutcomeKind.HandBack ? await HandBackAsync(outcome.Job) : await FailAsync(outcome);
            Release(outcome.Job, written);
            batch.RemoveAll(o => o.Job.JobId == outcome.Job.JobId);
        }
    }

    // Ends this node's lease on a job whose outcome was written; no row written means the lease had
    // been taken (the job rescued) while it ran here.
    private void Release(JobContext job, bool written)
    {
        if (inFlight.TryRemove(job.JobId, out var lease) && !written)
        {
            ReportLost(lease);
        }
    }

    private void ReportLost(Lease lease)
    {
        if (!lease.Lost)
        {
            lease.Lost = true;
            metrics.JobLeaseLost(lease.Job.Kind);
            logger.LogError("Job {JobId} ({Kind}) lost its lease while running here: it was rescued, and another node may run it at the same time", lease.Job.JobId, lease.Job.Kind);
        }
    }

    // The ids of the jobs completed (those still leased by this worker).
    private async Task<HashSet<long>> CompleteAsync(long[] jobIds)
    {
        await using var command = dataSource.CreateCommand(CompleteSql);
        command.With("job_ids", jobIds);
        command.With("worker", workerId);
        command.With("now", time.GetUtcNow());
        return await ReadIdsAsync(command, CancellationToken.None);
    }

    private static async Task<HashSet<long>> ReadIdsAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        var ids = new HashSet<long>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            ids.Add(reader.Get<long>("job_id"));
        }

        return ids;
    }

    // True when the row was still leased by this worker and is now written.
    private async Task<bool> FailAsync(Outcome outcome)
    {
        var (job, _, error, at, retryAt) = outcome;
        var discard = outcome.Kind == OutcomeKind.Discard;
        await using var command = dataSource.CreateCommand(FailSql);
        command.With("job_id", job.JobId);
        command.With("worker", workerId);
        command.With("now", at);
        command.With("retry_at", retryAt);
        command.With("discard", discard);
        command.With("error", JsonSerializer.Serialize(new { at, attempt = job.Attempt, error }), NpgsqlDbType.Jsonb);
        if (await command.ExecuteNonQueryAsync(CancellationToken.None) == 0)
        {
            return false;
        }

        metrics.JobFinished(job.Kind, discard || job.Attempt >= job.MaxAttempts ? "discarded" : "retried");
        return true;
    }

    private async Task<bool> HandBackAsync(JobContext job)
    {
        await using var command = dataSource.CreateCommand(HandBackSql);
        command.With("job_id", job.JobId);
        command.With("worker", workerId);
        return await command.ExecuteNonQueryAsync(CancellationToken.None) > 0;
    }

    private async Task RescueAsync(CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(RescueSql);
        command.With("now", time.GetUtcNow());
        var rescued = await command.ExecuteNonQueryAsync(cancellationToken);
        if (rescued > 0)
        {
            logger.LogWarning("Rescued {Count} jobs whose lease lapsed", rescued);
        }
    }

    // Renews the leases of everything in flight. A failed beat (a database blip) is logged and the
    // next one tried: the catch sits inside the loop, so one error never ends the heartbeat and
    // lets leases lapse under jobs that are still running.
    private async Task HeartbeatAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        var interval = TimeSpan.FromSeconds(Math.Max(1, settings.LeaseSeconds / 3));
        using var timer = new PeriodicTimer(interval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                var leases = inFlight.Values.Where(l => !l.Lost).ToArray();
                if (leases.Length == 0)
                {
                    continue;
                }

                try
                {
                    // A beat never outlasts its interval: one that hangs (a half-open connection)
                    // would otherwise hold back every later beat while the leases lapse.
                    using var beat = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                    beat.CancelAfter(interval);
                    await using var command = dataSource.CreateCommand(HeartbeatSql);
                    command.With<long[]>("job_ids", [.. leases.Select(l => l.Job.JobId)]);
                    command.With("worker", workerId);
                    command.With("lease_until", time.GetUtcNow().AddSeconds(settings.LeaseSeconds));
                    var renewed = await ReadIdsAsync(command, beat.Token);
                    foreach (var lease in leases)
                    {
                        // Not renewed, still here and not being written: rescued from under its run.
                        if (!renewed.Contains(lease.Job.JobId) && !lease.Writing && inFlight.ContainsKey(lease.Job.JobId))
                        {
                            ReportLost(lease);
                        }
                    }
                }
                catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
                {
                    // Whatever failed (a broken socket surfaces as more than one exception type),
                    // the next beat is tried: only shutdown ends the heartbeat.
                    logger.LogWarning(ex, "Job heartbeat failed; trying again at the next beat");
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Shutting down.
        }
    }

    // This worker's lease on one job. Writing: its outcome is being written (the write, not the
    // heartbeat, then tells a lost lease). Lost: reported once.
    private sealed class Lease(JobContext job)
    {
        public JobContext Job { get; } = job;

        public volatile bool Writing;

        public volatile bool Lost;
    }

    // How soon a failed outcome write is tried again: short, since the failure is a database that
    // went away and the jobs waiting on it include hold expiries.
    private static readonly TimeSpan OutcomeRetryInterval = TimeSpan.FromMilliseconds(250);

    private enum OutcomeKind
    {
        Completed,
        Retry,
        Discard,
        HandBack,
    }

    // What became of one run: At is when it ended; RetryAt when a retry is due (backoff from At).
    private readonly record struct Outcome(JobContext Job, OutcomeKind Kind, string? Error, DateTimeOffset At, DateTimeOffset RetryAt)
    {
        public static Outcome Ended(JobContext job, OutcomeKind kind, DateTimeOffset at) => new(job, kind, null, at, at);

        public static Outcome Failed(JobContext job, string error, bool discard, DateTimeOffset at) =>
            new(job, discard ? OutcomeKind.Discard : OutcomeKind.Retry, error, at, at + Backoff(job.Attempt));
    }

    /// <summary>
    /// Retry delay after failed attempt <paramref name="attempt"/>: attempt⁴ seconds (1 s, 16 s, 81 s,
    /// 4 min, …, capped at 24 h) plus up to 10 % jitter so a burst of failures does not retry in step.
    /// </summary>
    public static TimeSpan Backoff(int attempt)
    {
        var seconds = Math.Min(Math.Pow(Math.Max(attempt, 1), 4), 86_400);
        return TimeSpan.FromSeconds(seconds * (1 + (Random.Shared.NextDouble() * 0.1)));
    }

    // Takes the next due jobs in priority order. SKIP LOCKED lets concurrent workers take disjoint
    // batches instead of queueing on each other's row locks.
    // The claim index is ordered (queue, priority, run_at, job_id), so one scan in priority order
    // would walk every waiting job of a more urgent priority that is not due yet (a payment
    // deadline 15 minutes out, a reminder two days out) before reaching a due one: 45 ms for an empty
    // claim over 105,000 waiting jobs. Instead the queue's priorities are found by a skip scan (one
    // index descent each), and each priority's due jobs are read from the front of its run_at range,
    // which stops at the first job not yet due. A priority's scan may lock up to @limit rows that
    // the outer limit then leaves; the statement is its own transaction, so they are free again at
    // once. Internal for the test that reads the claim's plan.
    internal const string ClaimSql = """
        with recursive priorities as (
          (select j.priority from job j
           where j.state in ('available', 'retryable') and j.queue = @queue
           order by j.priority limit 1)
          union all
          select (select j.priority from job j
                  where j.state in ('available', 'retryable') and j.queue = @queue and j.priority > p.priority
                  order by j.priority limit 1)
          from priorities p
          where p.priority is not null
        ), due as (
          select d.job_id
          from priorities p
          cross join lateral (
            select j.job_id, j.run_at
            from job j
            where j.state in ('available', 'retryable')
              and j.queue = @queue
              and j.priority = p.priority
              and j.run_at <= @now
            order by j.run_at, j.job_id
            limit @limit
            for update skip locked
          ) d
          order by p.priority, d.run_at, d.job_id
          limit @limit
        )
        update job j
        set state = 'running',
            attempt = j.attempt + 1,
            attempted_at = @now,
            leased_by = @worker,
            lease_expires_at = @lease_until
        from due
        where j.job_id = due.job_id
        returning j.job_id, j.kind, j.payload::text as payload, j.attempt, j.max_attempts
        """;

    // leased_by guards against completing a job that was rescued and taken by another worker.
    private const string CompleteSql = """
        update job
        set state = 'completed', finalized_at = @now, leased_by = null, lease_expires_at = null
        where job_id = any(@job_ids) and state = 'running' and leased_by = @worker
        returning job_id
        """;

    private const string FailSql = """
        update job
        set state = case when @discard or attempt >= max_attempts then 'discarded' else 'retryable' end,
            run_at = @retry_at,
            finalized_at = case when @discard or attempt >= max_attempts then @now end,
            errors = errors || jsonb_build_array(@error),
            leased_by = null,
            lease_expires_at = null
        where job_id = @job_id and state = 'running' and leased_by = @worker
        """;

    // A job interrupted by shutdown did not fail: give the attempt back and let any node take it now.
    private const string HandBackSql = """
        update job
        set state = 'available', attempt = greatest(attempt - 1, 0), leased_by = null, lease_expires_at = null
        where job_id = @job_id and state = 'running' and leased_by = @worker
        """;

    private const string RescueSql = """
        update job
        set state = case when attempt >= max_attempts then 'discarded' else 'retryable' end,
            finalized_at = case when attempt >= max_attempts then @now end,
            errors = errors || jsonb_build_array(jsonb_build_object('at', @now, 'attempt', attempt, 'error', 'lease lapsed: worker ' || leased_by || ' stopped heartbeating')),
            leased_by = null,
            lease_expires_at = null
        where state = 'running' and lease_expires_at < @now
        """;

    private const string HeartbeatSql = """
        update job set lease_expires_at = @lease_until
        where job_id = any(@job_ids) and state = 'running' and leased_by = @worker
        returning job_id
        """;
}

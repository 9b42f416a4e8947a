using System.Collections.Concurrent;
using Holdfast.Infrastructure.Jobs;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Holdfast.Tests.Infrastructure;

/// <summary>
/// The job worker under faults: jobs that hang. Run
/// alone, after the parallel tests: their timing (a 2 s heartbeat against a 6 s lease) is the thing
/// under test, and a machine saturated by the rest of the suite starved it.
/// </summary>
[Collection(nameof(RunAlone))]
public sealed class JobWorkerFaultTests
{
    private sealed class Handler(string kind, Func<JobContext, CancellationToken, Task> body) : IJobHandler
    {
        public ConcurrentDictionary<long, int> Runs { get; } = new();

        public string Kind => kind;

        public Task HandleAsync(JobContext job, CancellationToken cancellationToken)
        {
            Runs.AddOrUpdate(job.JobId, 1, (_, n) => n + 1);
            return body(job, cancellationToken);
        }
    }

    /// <summary>Keeps every message the worker logs, with its time, to count some and to explain a failure.</summary>
    private sealed class LogRecorder : ILogger<JobWorker>
    {
        private readonly ConcurrentQueue<string> lines = new();

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public int Count(string text) => lines.Count(l => l.Contains(text, StringComparison.Ordinal));

        public override string ToString() => string.Join('\n', lines);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            lines.Enqueue($"{DateTime.UtcNow:HH:mm:ss.fff} {formatter(state, exception)} [{exception?.GetType().Name}: {exception?.Message}]");
    }

    private static JobWorker Worker(NpgsqlDataSource db, IJobHandler[] handlers, int leaseSeconds, ILogger<JobWorker>? logger = null, int batchSize = 16) =>
        new(db, handlers, Options.Create(new JobOptions
        {
            PollIntervalMilliseconds = 50,
            BatchSize = batchSize,
            LeaseSeconds = leaseSeconds,
            RescueIntervalSeconds = 1,
            ShutdownGraceSeconds = 5,
        }), TimeProvider.System, TestMetrics.Create(), logger ?? NullLogger<JobWorker>.Instance);

    [Fact]
    public async Task A_failed_heartbeat_does_not_end_the_heartbeat_so_a_long_job_is_not_rescued_and_run_twice()
    {
        var connectionString = await PostgresServer.Instance.CreateDatabaseAsync();
        await using var direct = NpgsqlDataSource.Create(connectionString);
        var (proxy, proxied) = TcpProxy.For(connectionString);
        await using var _ = proxy;
        await using var throughProxy = NpgsqlDataSource.Create(proxied);

        var release = new TaskCompletionSource();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var handler = new Handler("test.long", (_, ct) =>
        {
            started.TrySetResult();
            return release.Task.WaitAsync(ct);
        });
        var log = new LogRecorder();
        // Lease 6 s, beats every 2 s. This node reaches the database through the proxy.
        var first = Worker(throughProxy, [handler], leaseSeconds: 6, log);
        var jobId = await direct.ScalarAsync<long>("insert into job (kind, run_at) values ('test.long', now() - interval '1 second') returning job_id");
        await first.StartAsync(CancellationToken.None);
        // The handler, not the row: a row is 'running' as soon as the claim commits, before the
        // worker has read the claim's answer, and a cut then loses the claim (that job waits for
        // its lease to lapse and the rescue, run once, but it is not the case under test).
        await started.Task.WaitAsync(TimeSpan.FromSeconds(10));

        // A database blip for this node: at least one beat fails.
        proxy.Cut();
        throughProxy.Clear();
        await Eventually.EqualAsync(true, () => Task.FromResult(log.Count("Job heartbeat failed") > 0), TimeSpan.FromSeconds(30), () => log.ToString());
        proxy.Restore();
        var afterBlip = await direct.ScalarAsync<DateTime>("select now()");

        // A second node rescues lapsed leases every second: had the heartbeat died, the job would be
        // taken from under the first run once its lease lapsed.
        var second = Worker(direct, [handler], leaseSeconds: 6);
        await second.StartAsync(CancellationToken.None);
        await Eventually.EqualAsync(true, () => direct.ScalarAsync<bool>($"select lease_expires_at > '{afterBlip.AddSeconds(5):O}'::timestamptz from job where job_id = {jobId}"), TimeSpan.FromSeconds(20), () => log.ToString());

        release.SetResult();
        await Eventually.EqualAsync("completed", () => direct.ScalarAsync<string>($"select state from job where job_id = {jobId}"));
        await Task.WhenAll(first.StopAsync(CancellationToken.None), second.StopAsync(CancellationToken.None));

        Assert.Equal(1, handler.Runs[jobId]);
        Assert.Equal(1, await direct.ScalarAsync<int>($"select attempt from job where job_id = {jobId}"));
        Assert.Equal(0, log.Count("lost its lease"));
    }

    // What a rescue and another node's claim do to a lapsed lease, done by hand to a job whose run is still going.
    private static string RescueByHand(long jobId) =>
        $"update job set leased_by = 'another-node:1:0', lease_expires_at = now() + interval '1 minute', attempt = attempt + 1 where job_id = {jobId} returning 1";

    [Fact]
    public async Task A_lease_rescued_from_under_a_running_job_is_reported_by_the_next_heartbeat()
    {
        await using var db = NpgsqlDataSource.Create(await PostgresServer.Instance.CreateDatabaseAsync());
        var release = new TaskCompletionSource();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var handler = new Handler("test.long", (_, ct) =>
        {
            started.TrySetResult();
            return release.Task.WaitAsync(ct);
        });
        var log = new LogRecorder();
        var worker = Worker(db, [handler], leaseSeconds: 3, log); // beats every second
        var jobId = await db.ScalarAsync<long>("insert into job (kind, run_at) values ('test.long', now() - interval '1 second') returning job_id");
        await worker.StartAsync(CancellationToken.None);
        await started.Task.WaitAsync(TimeSpan.FromSeconds(10));

        await db.ScalarAsync<int>(RescueByHand(jobId));
        await Eventually.EqualAsync(1, () => Task.FromResult(log.Count($"Job {jobId} (test.long) lost its lease while running")), TimeSpan.FromSeconds(10), () => log.ToString());

        release.SetResult();
        await worker.StopAsync(CancellationToken.None);
        Assert.Equal(1, log.Count("lost its lease")); // once, though the completion finds it lost too
    }

    [Fact]
    public async Task A_lease_rescued_from_under_a_running_job_is_reported_when_its_completion_finds_no_row()
    {
        await using var db = NpgsqlDataSource.Create(await PostgresServer.Instance.CreateDatabaseAsync());
        var release = new TaskCompletionSource();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var handler = new Handler("test.long", (_, ct) =>
        {
            started.TrySetResult();
            return release.Task.WaitAsync(ct);
        });
        var log = new LogRecorder();
        var worker = Worker(db, [handler], leaseSeconds: 60, log); // no beat within the test
        var jobId = await db.ScalarAsync<long>("insert into job (kind, run_at) values ('test.long', now() - interval '1 second') returning job_id");
        await worker.StartAsync(CancellationToken.None);
        await started.Task.WaitAsync(TimeSpan.FromSeconds(10));

        await db.ScalarAsync<int>(RescueByHand(jobId));
        release.SetResult();
        await Eventually.EqualAsync(1, () => Task.FromResult(log.Count($"Job {jobId} (test.long) lost its lease while running")), TimeSpan.FromSeconds(10), () => log.ToString());
        await worker.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task A_failure_seen_during_an_outage_is_recorded_when_the_database_returns_and_retried_at_once()
    {
        var connectionString = await PostgresServer.Instance.CreateDatabaseAsync();
        await using var direct = NpgsqlDataSource.Create(connectionString);
        var (proxy, proxied) = TcpProxy.For(connectionString);
        await using var _ = proxy;
        await using var throughProxy = NpgsqlDataSource.Create(proxied);

        // The first run meets the outage (as a hold's expiry does when PostgreSQL goes down under it).
        var handler = new Handler("test.expire", (job, _) =>
        {
            if (job.Attempt == 1)
            {
                proxy.Cut();
                throughProxy.Clear();
                throw new NpgsqlException("the database went away");
            }

            return Task.CompletedTask;
        });
        var log = new LogRecorder();
        // A 60 s lease, as in production: a failure left to the rescue would wait that long.
        var worker = Worker(throughProxy, [handler], leaseSeconds: 60, log);
        var jobId = await direct.ScalarAsync<long>("insert into job (kind, run_at) values ('test.expire', now() - interval '1 second') returning job_id");
        await worker.StartAsync(CancellationToken.None);
        await Eventually.EqualAsync(true, () => Task.FromResult(log.Count("Recording 1 job outcomes failed") > 0), TimeSpan.FromSeconds(10), () => log.ToString());

        proxy.Restore();
        var restored = DateTime.UtcNow;
        await Eventually.EqualAsync("completed", () => direct.ScalarAsync<string>($"select state from job where job_id = {jobId}"), TimeSpan.FromSeconds(15), () => log.ToString());
        await worker.StopAsync(CancellationToken.None);

        Assert.InRange((DateTime.UtcNow - restored).TotalSeconds, 0, 15);
        Assert.Equal(2, handler.Runs[jobId]);
        var errors = await direct.ScalarAsync<string>($"select errors::text from job where job_id = {jobId}");
        Assert.Contains("the database went away", errors);
        Assert.DoesNotContain("lease lapsed", errors);
    }

    [Fact]
    public async Task A_hung_job_does_not_delay_the_claim_of_jobs_that_fall_due_after_it()
    {
        await using var db = NpgsqlDataSource.Create(await PostgresServer.Instance.CreateDatabaseAsync());
        var hung = new Handler("test.hung", (_, ct) => Task.Delay(Timeout.Infinite, ct));
        var quick = new Handler("test.quick", (_, _) => Task.CompletedTask);
        var worker = Worker(db, [hung, quick], leaseSeconds: 30);
        var hungId = await db.ScalarAsync<long>("insert into job (kind, run_at) values ('test.hung', now() - interval '1 second') returning job_id");
        await worker.StartAsync(CancellationToken.None);
        await Eventually.EqualAsync("running", () => db.ScalarAsync<string>($"select state from job where job_id = {hungId}"));

        // Jobs that fall due while the hung one runs (as a hold's expiry falls due behind an email).
        await db.ScalarAsync<long>("with j as (insert into job (kind, run_at) select 'test.quick', now() from generate_series(1, 40) returning 1) select count(*) from j");
        await Eventually.EqualAsync(40L, () => db.ScalarAsync<long>("select count(*) from job where kind = 'test.quick' and state = 'completed'"), TimeSpan.FromSeconds(5));

        Assert.Equal("running", await db.ScalarAsync<string>($"select state from job where job_id = {hungId}"));
        await worker.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task Jobs_hung_in_one_queue_do_not_take_the_slots_of_another()
    {
        await using var db = NpgsqlDataSource.Create(await PostgresServer.Instance.CreateDatabaseAsync());
        var hung = new Handler("test.email", (_, ct) => Task.Delay(Timeout.Infinite, ct));
        var expiry = new Handler("test.expire", (_, _) => Task.CompletedTask);
        var worker = Worker(db, [hung, expiry], leaseSeconds: 30, batchSize: 2);
        // Every slot of the default queue holds a send to an SMTP server that never answers.
        await db.ScalarAsync<long>("with j as (insert into job (kind, queue, run_at) select 'test.email', 'default', now() - interval '1 second' from generate_series(1, 4) returning 1) select count(*) from j");
        await worker.StartAsync(CancellationToken.None);
        await Eventually.EqualAsync(2L, () => db.ScalarAsync<long>("select count(*) from job where kind = 'test.email' and state = 'running'"));

        await db.ScalarAsync<long>("with j as (insert into job (kind, queue, run_at) select 'test.expire', 'holds', now() from generate_series(1, 5) returning 1) select count(*) from j");
        await Eventually.EqualAsync(5L, () => db.ScalarAsync<long>("select count(*) from job where kind = 'test.expire' and state = 'completed'"), TimeSpan.FromSeconds(5));

        Assert.Equal(2L, await db.ScalarAsync<long>("select count(*) from job where kind = 'test.email' and state = 'running'"));
        await worker.StopAsync(CancellationToken.None);
    }
}

/// <summary>Test classes whose subject is timing: xunit runs this collection alone, after the others.</summary>
[CollectionDefinition(nameof(RunAlone), DisableParallelization = true)]
public sealed class RunAlone;

using System.Collections.Concurrent;
using Holdfast.Infrastructure.Jobs;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Holdfast.Tests.Infrastructure;

/// <summary>
/// The job worker under faults: a database blip under a running job, and a job that hangs. Run
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

    /// <summary>Counts the worker's warnings that start with a given text.</summary>
    private sealed class WarningCounter(string prefix) : ILogger<JobWorker>
    {
        private int count;

        public int Count => Volatile.Read(ref count);

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (formatter(state, exception).StartsWith(prefix, StringComparison.Ordinal))
            {
                Interlocked.Increment(ref count);
            }
        }
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
        var handler = new Handler("test.long", (_, ct) => release.Task.WaitAsync(ct));
        var warnings = new WarningCounter("Job heartbeat failed");
        // Lease 6 s, beats every 2 s (room for a loaded machine). The first node reaches the database through the proxy.
        var first = Worker(throughProxy, [handler], leaseSeconds: 6, warnings);
        var jobId = await direct.ScalarAsync<long>("insert into job (kind, run_at) values ('test.long', now() - interval '1 second') returning job_id");
        await first.StartAsync(CancellationToken.None);
        await Eventually.EqualAsync("running", () => direct.ScalarAsync<string>($"select state from job where job_id = {jobId}"));

        // A database blip for this node: one beat fails.
        proxy.Cut();
        throughProxy.Clear(); // no idle connection survives: the next beat must connect, and is refused at once
        await Eventually.EqualAsync(true, () => Task.FromResult(warnings.Count > 0), TimeSpan.FromSeconds(30));
        proxy.Restore();
        var afterBlip = await direct.ScalarAsync<DateTime>("select now()");

        // A second node rescues lapsed leases every second: had the heartbeat died, the job would be
        // taken from under the first run once its lease lapsed.
        var second = Worker(direct, [handler], leaseSeconds: 6);
        await second.StartAsync(CancellationToken.None);
        await Eventually.EqualAsync(true, () => direct.ScalarAsync<bool>($"select lease_expires_at > '{afterBlip.AddSeconds(5):O}'::timestamptz from job where job_id = {jobId}"), TimeSpan.FromSeconds(20));

        release.SetResult();
        await Eventually.EqualAsync("completed", () => direct.ScalarAsync<string>($"select state from job where job_id = {jobId}"));
        await Task.WhenAll(first.StopAsync(CancellationToken.None), second.StopAsync(CancellationToken.None));

        Assert.Equal(1, handler.Runs[jobId]);
        Assert.Equal(1, await direct.ScalarAsync<int>($"select attempt from job where job_id = {jobId}"));
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

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

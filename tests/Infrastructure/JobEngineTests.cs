using System.Collections.Concurrent;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Jobs;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Holdfast.Tests.Infrastructure;

/// <summary>The job engine on its own database, with workers and schedulers built by hand.</summary>
public sealed class JobEngineTests
{
    private sealed class Recorder(string kind, Func<JobContext, CancellationToken, Task>? body = null) : IJobHandler
    {
        public ConcurrentDictionary<long, int> Runs { get; } = new();

        public string Kind => kind;

        public async Task HandleAsync(JobContext job, CancellationToken cancellationToken)
        {
            Runs.AddOrUpdate(job.JobId, 1, (_, n) => n + 1);
            if (body is not null)
            {
                await body(job, cancellationToken);
            }
        }
    }

    private static async Task<NpgsqlDataSource> DatabaseAsync() => NpgsqlDataSource.Create(await PostgresServer.Instance.CreateDatabaseAsync());

    private static JobWorker Worker(NpgsqlDataSource db, TimeProvider time, IJobHandler handler, int pollMilliseconds = 50, int graceSeconds = 10, int leaseSeconds = 30) =>
        new(db, [handler], Options.Create(new JobOptions
        {
            PollIntervalMilliseconds = pollMilliseconds,
            BatchSize = 10,
            LeaseSeconds = leaseSeconds,
            RescueIntervalSeconds = 1,
            ShutdownGraceSeconds = graceSeconds,
        }), time, TestMetrics.Create(), NullLogger<JobWorker>.Instance);

    [Fact]
    public async Task Two_workers_never_run_one_job()
    {
        await using var db = await DatabaseAsync();
        await db.ScalarAsync<long>("with j as (insert into job (kind, run_at) select 'test.count', now() - interval '1 second' from generate_series(1, 400) returning 1) select count(*) from j");
        var handler = new Recorder("test.count");
        var first = Worker(db, TimeProvider.System, handler);
        var second = Worker(db, TimeProvider.System, handler);

        await Task.WhenAll(first.StartAsync(CancellationToken.None), second.StartAsync(CancellationToken.None));
        await Eventually.EqualAsync(400L, () => db.ScalarAsync<long>("select count(*) from job where state = 'completed'"), TimeSpan.FromSeconds(60));
        await Task.WhenAll(first.StopAsync(CancellationToken.None), second.StopAsync(CancellationToken.None));

        Assert.Equal(400, handler.Runs.Count);
        Assert.All(handler.Runs.Values, n => Assert.Equal(1, n));
        Assert.Equal(400L, await db.ScalarAsync<long>("select sum(attempt) from job"));
    }

    [Fact]
    public async Task A_failing_job_retries_with_exponential_backoff_then_is_discarded_with_its_errors()
    {
        await using var db = await DatabaseAsync();
        var time = new ManualTime(DateTimeOffset.UtcNow);
        var jobId = await db.ScalarAsync<long>($"insert into job (kind, run_at, max_attempts) values ('test.fail', '{time.GetUtcNow().AddSeconds(-1):O}', 3) returning job_id");
        var worker = Worker(db, time, new Recorder("test.fail", (_, _) => throw new InvalidOperationException("card service down")));
        await worker.StartAsync(CancellationToken.None);

        async Task<(string State, int Attempt, DateTime RunAt)> Job()
        {
            await using var command = db.CreateCommand($"select state, attempt, run_at from job where job_id = {jobId}");
            await using var reader = await command.ExecuteReaderAsync();
            await reader.ReadAsync();
            return (reader.GetString(0), reader.GetInt32(1), reader.GetDateTime(2));
        }

        await Eventually.EqualAsync(("retryable", 1), async () => { var j = await Job(); return (j.State, j.Attempt); });
        var afterFirst = (await Job()).RunAt - time.GetUtcNow().UtcDateTime;
        Assert.InRange(afterFirst.TotalSeconds, 1, 1.11); // 1⁴ s plus up to 10 % jitter

        time.Advance(TimeSpan.FromSeconds(2));
        await Eventually.EqualAsync(("retryable", 2), async () => { var j = await Job(); return (j.State, j.Attempt); });
        var afterSecond = (await Job()).RunAt - time.GetUtcNow().UtcDateTime;
        Assert.InRange(afterSecond.TotalSeconds, 16, 17.61); // 2⁴ s plus jitter

        time.Advance(TimeSpan.FromSeconds(18));
        await Eventually.EqualAsync(("discarded", 3), async () => { var j = await Job(); return (j.State, j.Attempt); });
        await worker.StopAsync(CancellationToken.None);
        Assert.Equal(3, await db.ScalarAsync<int>($"select jsonb_array_length(errors) from job where job_id = {jobId}"));
        Assert.Contains("card service down", await db.ScalarAsync<string>($"select errors::text from job where job_id = {jobId}"), StringComparison.Ordinal);
    }

    private sealed record TypedArgs(long BookingId, int OffsetHours) : IJobArgs
    {
        public static string Kind => "test.typed";

        public static string UniqueKeySql => "'typed:' || a.booking_id || ':' || a.offset_hours";

        public string UniqueKey() => $"typed:{BookingId}:{OffsetHours}";
    }

    private sealed class TypedHandler : JobHandler<TypedArgs>
    {
        public ConcurrentBag<TypedArgs> Seen { get; } = [];

        public override Task HandleAsync(JobContext job, TypedArgs args, CancellationToken cancellationToken)
        {
            Seen.Add(args);
            return Task.CompletedTask;
        }
    }

    [Theory]
    [InlineData("""{"offset_hours": 3}""", "booking_id")] // a key missing
    [InlineData("""{"booking_id": "seven", "offset_hours": 3}""", "booking_id")] // a key of the wrong type
    [InlineData("""{"booking_id": null, "offset_hours": 3}""", "booking_id")] // null for a non-nullable field
    public async Task A_malformed_payload_is_discarded_at_its_first_attempt_with_its_error_kept(string payload, string named)
    {
        await using var db = await DatabaseAsync();
        var jobId = await db.ScalarAsync<long>($"insert into job (kind, run_at, payload) values ('test.typed', now() - interval '1 second', '{payload}') returning job_id");
        var handler = new TypedHandler();
        var worker = Worker(db, TimeProvider.System, handler);

        await worker.StartAsync(CancellationToken.None);
        await Eventually.EqualAsync(("discarded", 1), async () => (await db.ScalarAsync<string>($"select state from job where job_id = {jobId}"),
            await db.ScalarAsync<int>($"select attempt from job where job_id = {jobId}")));
        await worker.StopAsync(CancellationToken.None);

        Assert.Empty(handler.Seen);
        var error = await db.ScalarAsync<string>($"select errors -> 0 ->> 'error' from job where job_id = {jobId}");
        Assert.Contains("Malformed test.typed payload", error, StringComparison.Ordinal);
        Assert.Contains(named, error, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Typed_jobs_enqueued_from_CSharp_and_from_SQL_have_one_kind_key_and_payload_and_reach_their_handler_typed()
    {
        await using var db = await DatabaseAsync();
        var outbox = new JobOutbox(TimeProvider.System);
        await using (var connection = await db.OpenConnectionAsync())
        {
            Assert.NotNull(await outbox.EnqueueAsync(connection, new TypedArgs(7, 3), CancellationToken.None));
            // Set-based from SQL: the same key as C#'s, so the live duplicate (7, 3) is skipped.
            await using var command = new NpgsqlCommand(JobSql.Insert<TypedArgs>(
                "select b as booking_id, 3 as offset_hours, now() as run_at, now() as created_at from unnest(array[7, 8]::bigint[]) b"), connection);
            Assert.Equal(1, await command.ExecuteNonQueryAsync());
        }

        Assert.Equal("typed:7:3,typed:8:3", await db.ScalarAsync<string>("select string_agg(unique_key, ',' order by unique_key) from job where kind = 'test.typed'"));
        Assert.Equal("""{"booking_id": 8, "offset_hours": 3}""", await db.ScalarAsync<string>("select payload::text from job where unique_key = 'typed:8:3'"));
        var handler = new TypedHandler();
        var worker = Worker(db, TimeProvider.System, handler);
        await worker.StartAsync(CancellationToken.None);
        await Eventually.EqualAsync(2L, () => db.ScalarAsync<long>("select count(*) from job where state = 'completed'"));
        await worker.StopAsync(CancellationToken.None);

        Assert.Equal([new TypedArgs(7, 3), new TypedArgs(8, 3)], handler.Seen.OrderBy(a => a.BookingId));
    }

    [Fact]
    public async Task A_job_whose_lease_lapsed_is_rescued_and_run()
    {
        await using var db = await DatabaseAsync();
        var jobId = await db.ScalarAsync<long>("""
            insert into job (kind, run_at, state, attempt, leased_by, lease_expires_at)
            values ('test.rescue', now() - interval '5 minutes', 'running', 1, 'dead-node:1:x', now() - interval '1 minute')
            returning job_id
            """);
        var handler = new Recorder("test.rescue");
        var worker = Worker(db, TimeProvider.System, handler);

        await worker.StartAsync(CancellationToken.None);
        await Eventually.EqualAsync("completed", () => db.ScalarAsync<string>($"select state from job where job_id = {jobId}"), TimeSpan.FromSeconds(20));
        await worker.StopAsync(CancellationToken.None);

        Assert.Equal(1, handler.Runs[jobId]);
        Assert.Contains("lease lapsed", await db.ScalarAsync<string>($"select errors::text from job where job_id = {jobId}"), StringComparison.Ordinal);
        Assert.Equal(2, await db.ScalarAsync<int>($"select attempt from job where job_id = {jobId}"));
    }

    [Fact]
    public async Task A_job_that_finished_early_keeps_its_lease_while_its_batch_waits_for_a_slow_one()
    {
        await using var db = await DatabaseAsync();
        await db.ScalarAsync<long>("""
            with j as (insert into job (kind, run_at, payload) values
              ('test.batch', now() - interval '1 second', '{"slow": false}'),
              ('test.batch', now() - interval '1 second', '{"slow": true}') returning 1)
            select count(*) from j
            """);
        var handler = new Recorder("test.batch", (job, ct) =>
            job.Payload.GetProperty("slow").GetBoolean() ? Task.Delay(TimeSpan.FromSeconds(7), ct) : Task.CompletedTask);
        var first = Worker(db, TimeProvider.System, handler, leaseSeconds: 3);
        await first.StartAsync(CancellationToken.None);
        await Eventually.EqualAsync(2L, () => db.ScalarAsync<long>("select count(*) from job where state = 'running' or state = 'completed'"));

        // A second worker rescues every second whatever lease has lapsed: the fast job's must not.
        var second = Worker(db, TimeProvider.System, handler, leaseSeconds: 3);
        await second.StartAsync(CancellationToken.None);
        await Eventually.EqualAsync(2L, () => db.ScalarAsync<long>("select count(*) from job where state = 'completed'"), TimeSpan.FromSeconds(30));
        await Task.WhenAll(first.StopAsync(CancellationToken.None), second.StopAsync(CancellationToken.None));

        Assert.All(handler.Runs.Values, n => Assert.Equal(1, n));
        Assert.Equal(2L, await db.ScalarAsync<long>("select sum(attempt) from job"));
    }

    [Fact]
    public async Task A_claim_takes_due_jobs_in_priority_order_without_reading_the_waiting_ones_ahead_of_them()
    {
        await using var db = await DatabaseAsync();
        // 30,000 jobs of the most urgent priority that are not due for a day (reminders, deadlines),
        // ahead in the claim index of two due jobs of lower priorities.
        await db.ScalarAsync<long>("""
            with j as (insert into job (kind, priority, run_at) select 'test.later', 1, now() + interval '1 day' from generate_series(1, 30000) returning 1)
            select count(*) from j
            """);
        var second = await db.ScalarAsync<long>("insert into job (kind, priority, run_at) values ('test.due', 3, now() - interval '1 minute') returning job_id");
        var first = await db.ScalarAsync<long>("insert into job (kind, priority, run_at) values ('test.due', 2, now() - interval '1 second') returning job_id");
        await using (var vacuum = db.CreateCommand("vacuum analyze job"))
        {
            await vacuum.ExecuteNonQueryAsync();
        }

        static NpgsqlCommand Claim(NpgsqlConnection connection, string prefix = "") =>
            new NpgsqlCommand(prefix + JobWorker.ClaimSql, connection).With("queue", "default").With("now", DateTimeOffset.UtcNow).With("limit", 10)
                .With("worker", "test").With("lease_until", DateTimeOffset.UtcNow.AddMinutes(1));

        await using var connection = await db.OpenConnectionAsync();
        await using (var transaction = await connection.BeginTransactionAsync())
        {
            await using var explain = Claim(connection, "explain (analyze, buffers, format json) ");
            var plan = System.Text.Json.Nodes.JsonNode.Parse((string)(await explain.ExecuteScalarAsync())!)![0]!["Plan"]!;
            var buffers = plan["Shared Hit Blocks"]!.GetValue<long>() + plan["Shared Read Blocks"]!.GetValue<long>();
            // One index descent per priority and per due range, and the two rows: a few dozen pages.
            // Scanning the 30,000 waiting entries alone is over a hundred.
            Assert.InRange(buffers, 1, 60);
            await transaction.RollbackAsync();
        }

        await using var claim = Claim(connection);
        var claimed = new List<long>();
        await using (var reader = await claim.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                claimed.Add(reader.GetInt64(0));
            }
        }

        Assert.Equal(new[] { first, second }.Order(), claimed.Order());
        Assert.Equal(0L, await db.ScalarAsync<long>("select count(*) from job where kind = 'test.later' and state <> 'available'"));
    }

    [Fact]
    public async Task Cancelled_jobs_never_run()
    {
        await using var db = await DatabaseAsync();
        var cancelled = await db.ScalarAsync<long>("insert into job (kind, run_at, state) values ('test.cancel', now() - interval '1 second', 'cancelled') returning job_id");
        var live = await db.ScalarAsync<long>("insert into job (kind, run_at) values ('test.cancel', now() - interval '1 second') returning job_id");
        var handler = new Recorder("test.cancel");
        var worker = Worker(db, TimeProvider.System, handler);

        await worker.StartAsync(CancellationToken.None);
        await Eventually.EqualAsync("completed", () => db.ScalarAsync<string>($"select state from job where job_id = {live}"));
        await worker.StopAsync(CancellationToken.None);

        Assert.False(handler.Runs.ContainsKey(cancelled));
        Assert.Equal("cancelled", await db.ScalarAsync<string>($"select state from job where job_id = {cancelled}"));
    }

    [Fact]
    public async Task Unique_jobs_dedupe_while_live_and_not_after()
    {
        await using var db = await DatabaseAsync();
        var outbox = new JobOutbox(TimeProvider.System);
        await using var connection = await db.OpenConnectionAsync();
        var job = new JobRequest("test.unique", new { booking_id = 7 }, DateTimeOffset.UtcNow.AddHours(1), UniqueKey: "booking:7");

        var first = await outbox.EnqueueAsync(connection, job, CancellationToken.None);
        var duplicate = await outbox.EnqueueAsync(connection, job, CancellationToken.None);
        await db.ScalarAsync<int>($"with u as (update job set state = 'completed', finalized_at = now() where job_id = {first} returning 1) select count(*)::int from u");
        var later = await outbox.EnqueueAsync(connection, job, CancellationToken.None);

        Assert.NotNull(first);
        Assert.Null(duplicate);
        Assert.NotNull(later);
        Assert.NotEqual(first, later);
        Assert.Equal(7, await db.ScalarAsync<int>($"select (payload->>'booking_id')::int from job where job_id = {later}"));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_job_due_now_wakes_an_idle_worker_through_notify(bool insertedByOwnSql)
    {
        await using var db = await DatabaseAsync();
        var handler = new Recorder("test.wake");
        // A poll interval of a minute: only the notification can make this job run within the wait below.
        var worker = Worker(db, TimeProvider.System, handler, pollMilliseconds: 60_000);
        await worker.StartAsync(CancellationToken.None);
        await Eventually.EqualAsync(true, () => db.ScalarAsync<bool>("select exists (select 1 from pg_stat_activity where query like 'listen holdfast_jobs%')"));
        await Task.Delay(200); // let the worker's first (empty) claim finish so it is parked waiting

        await using (var connection = await db.OpenConnectionAsync())
        {
            var outbox = new JobOutbox(TimeProvider.System);
            if (insertedByOwnSql)
            {
                // As CancelShow does: a set of jobs in the slice's own statement, then a wake-up.
                await using var transaction = await connection.BeginTransactionAsync();
                await using (var insert = new NpgsqlCommand("insert into job (kind, queue, payload, run_at) values ('test.wake', 'default', '{}', now())", connection, transaction))
                {
                    await insert.ExecuteNonQueryAsync();
                }

                await outbox.WakeAsync(connection, "default", CancellationToken.None);
                await transaction.CommitAsync();
            }
            else
            {
                await outbox.EnqueueAsync(connection, new JobRequest("test.wake"), CancellationToken.None);
            }
        }

        await Eventually.EqualAsync(1L, () => db.ScalarAsync<long>("select count(*) from job where kind = 'test.wake' and state = 'completed'"), TimeSpan.FromSeconds(10));
        await worker.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task Shutdown_hands_back_a_job_that_outlives_the_grace_period()
    {
        await using var db = await DatabaseAsync();
        var started = new TaskCompletionSource();
        var jobId = await db.ScalarAsync<long>("insert into job (kind, run_at) values ('test.slow', now() - interval '1 second') returning job_id");
        var worker = Worker(db, TimeProvider.System, new Recorder("test.slow", async (_, ct) =>
        {
            started.TrySetResult();
            await Task.Delay(Timeout.Infinite, ct);
        }), graceSeconds: 1);

        await worker.StartAsync(CancellationToken.None);
        await started.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await worker.StopAsync(CancellationToken.None);

        Assert.Equal("available", await db.ScalarAsync<string>($"select state from job where job_id = {jobId}"));
        Assert.Equal(0, await db.ScalarAsync<int>($"select attempt from job where job_id = {jobId}"));
    }

    [Fact]
    public async Task Recurring_jobs_run_once_per_slot_across_two_schedulers()
    {
        await using var db = await DatabaseAsync();
        var time = new ManualTime(new DateTimeOffset(2026, 3, 29, 0, 0, 30, TimeSpan.Zero));
        RecurringJob[] schedule = [new("test.minutely", "@every 1m", "test.tick")];
        JobScheduler Scheduler() => new(db, new JobOutbox(time), schedule, Options.Create(new JobOptions()), time, NullLogger<JobScheduler>.Instance);
        var (first, second) = (Scheduler(), Scheduler());
        await first.RegisterAsync(CancellationToken.None);
        await second.RegisterAsync(CancellationToken.None);

        var claimed = new List<int>();
        for (var slot = 0; slot < 3; slot++)
        {
            time.Advance(TimeSpan.FromMinutes(1));
            var ticks = await Task.WhenAll(first.TickAsync(CancellationToken.None), second.TickAsync(CancellationToken.None));
            claimed.Add(ticks.Sum());
        }

        Assert.Equal([1, 1, 1], claimed);
        Assert.Equal(3L, await db.ScalarAsync<long>("select count(distinct unique_key) from job where kind = 'test.tick'"));
        Assert.Equal(3L, await db.ScalarAsync<long>("select count(*) from job where kind = 'test.tick'"));
    }

    [Fact]
    public async Task Pruning_deletes_only_jobs_finished_before_the_retention_period()
    {
        await using var db = await DatabaseAsync();
        await db.ScalarAsync<long>("""
            with j as (
              insert into job (kind, run_at, state, finalized_at)
              select 'test.old', now() - interval '3 days', 'completed', now() - interval '2 days' from generate_series(1, 6000)
              union all select 'test.recent', now(), 'completed', now() - interval '1 hour'
              union all select 'test.live', now(), 'available', null
              returning 1)
            select count(*) from j
            """);

        await new PruneJobs(db, Options.Create(new JobOptions { RetentionHours = 24 }), TimeProvider.System)
            .HandleAsync(new JobContext(0, PruneJobsArgs.Kind, default, 1, 1), CancellationToken.None);

        Assert.Equal(0L, await db.ScalarAsync<long>("select count(*) from job where kind = 'test.old'"));
        Assert.Equal(2L, await db.ScalarAsync<long>("select count(*) from job where kind in ('test.recent', 'test.live')"));
    }

    [Theory]
    [InlineData("*/15 * * * *", "2026-03-29T10:07:00Z", "2026-03-29T10:15:00Z")]
    [InlineData("0 3 * * *", "2026-03-29T03:00:00Z", "2026-03-30T03:00:00Z")]
    [InlineData("30 9 * * 1-5", "2026-03-28T12:00:00Z", "2026-03-30T09:30:00Z")] // Saturday → Monday
    [InlineData("0 0 1 1 *", "2026-06-01T00:00:00Z", "2027-01-01T00:00:00Z")]
    [InlineData("@every 30s", "2026-03-29T10:07:10Z", "2026-03-29T10:07:30Z")]
    public void Cron_schedules_find_the_next_slot(string schedule, string after, string next) =>
        Assert.Equal(DateTimeOffset.Parse(next, System.Globalization.CultureInfo.InvariantCulture),
            Cron.Parse(schedule).Next(DateTimeOffset.Parse(after, System.Globalization.CultureInfo.InvariantCulture)));

    // Cronos reads more than the old parser did (decision 0014).
    [Theory]
    [InlineData("0 22-2 * * *", "2026-03-29T23:30:00Z", "2026-03-30T00:00:00Z")] // a reversed range wraps past midnight
    [InlineData("0 0 * * 7", "2026-03-29T12:00:00Z", "2026-04-05T00:00:00Z")] // 7 is Sunday too
    [InlineData("30 9 * * MON-FRI", "2026-03-28T12:00:00Z", "2026-03-30T09:30:00Z")]
    [InlineData("0 0 L * *", "2026-02-01T00:00:00Z", "2026-02-28T00:00:00Z")] // last day of the month
    [InlineData("@daily", "2026-03-29T10:07:00Z", "2026-03-30T00:00:00Z")]
    [InlineData("@hourly", "2026-03-29T10:07:00Z", "2026-03-29T11:00:00Z")]
    public void Cron_names_macros_L_and_wrapping_ranges_are_read_as_Cronos_reads_them(string schedule, string after, string next) =>
        Cron_schedules_find_the_next_slot(schedule, after, next);

    // Vixie cron and crontab(5): with both day fields restricted a day matches if either does
    // (Cronos alone reads AND, which would give only Fridays the 13th).
    [Fact]
    public void When_both_day_fields_are_restricted_a_day_matching_either_is_a_slot()
    {
        var cron = Cron.Parse("0 0 13 * 5");
        var slots = new List<DateTimeOffset>();
        var at = new DateTimeOffset(2026, 3, 1, 0, 0, 0, TimeSpan.Zero); // a Sunday
        for (var i = 0; i < 4; i++)
        {
            at = cron.Next(at);
            slots.Add(at);
        }

        // Fridays 6, 13 (also the 13th), 20, 27 March 2026; then Monday 13 April would follow Friday 10 April.
        Assert.Equal([6, 13, 20, 27], slots.Select(s => s.Day));
        Assert.Equal(new DateTimeOffset(2026, 4, 13, 0, 0, 0, TimeSpan.Zero), cron.Next(new DateTimeOffset(2026, 4, 10, 0, 0, 0, TimeSpan.Zero)));
    }

    [Theory]
    [InlineData("* * * * * *", "five fields")] // seconds
    [InlineData("@every_second", "no seconds")]
    [InlineData("* * * *", "five fields")]
    [InlineData("60 * * * *", "Minutes")]
    [InlineData("*/0 * * * *", "Minutes")]
    [InlineData("H * * * *", "jitter")]
    [InlineData("@reboot", "Macro")]
    [InlineData("0 0 30 2 *", "never fires")] // 30 February
    [InlineData("@every 10x", "unit")]
    [InlineData("@every 0m", "@every <n>s|m|h")]
    [InlineData("@every m", "@every <n>s|m|h")]
    public void Invalid_schedules_are_rejected_with_a_message_that_names_them(string schedule, string reason)
    {
        var error = Assert.ThrowsAny<FormatException>(() => Cron.Parse(schedule));
        Assert.StartsWith($"'{schedule}': ", error.Message, StringComparison.Ordinal);
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
    }
}

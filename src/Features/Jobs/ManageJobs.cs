using System.ComponentModel.DataAnnotations;
using System.Text.Json;
using Carter;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Holdfast.Infrastructure.Jobs;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Npgsql;

namespace Holdfast.Features.Jobs;

/// <summary>
/// The job table for admins: counts by state and kind, a filtered list, one job with its errors,
/// and retry, cancel and run-now. Every change is a compare-and-set on the job's state, so it
/// cannot fight a worker that holds the job's lease; and it is audited.
/// </summary>
public sealed class ManageJobs : ICarterModule
{
    /// <summary>How many jobs of a kind are in a state.</summary>
    public sealed record Count(string Kind, string State, long Jobs);

    /// <summary>A job.</summary>
    /// <param name="JobId">The id.</param>
    /// <param name="Kind">Handler key.</param>
    /// <param name="Queue">Queue.</param>
    /// <param name="State">available, running, retryable, completed, discarded or cancelled.</param>
    /// <param name="Attempt">Attempts so far.</param>
    /// <param name="MaxAttempts">Attempts before it is discarded.</param>
    /// <param name="RunAt">UTC instant it is (or was) due.</param>
    /// <param name="CreatedAt">UTC.</param>
    /// <param name="FinalizedAt">UTC, once completed, discarded or cancelled.</param>
    /// <param name="LeasedBy">The worker holding it, while running.</param>
    /// <param name="UniqueKey">Its dedupe key, if any.</param>
    /// <param name="Payload">Its payload.</param>
    /// <param name="Errors">One entry per failed attempt: {at, attempt, error}.</param>
    public sealed record Job(long JobId, string Kind, string Queue, string State, int Attempt, int MaxAttempts, DateTimeOffset RunAt,
        DateTimeOffset CreatedAt, DateTimeOffset? FinalizedAt, string? LeasedBy, string? UniqueKey, JsonElement Payload, JsonElement Errors);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app)
    {
        var jobs = app.MapGroup("/admin").RequireAuthorization(Roles.Admin).WithTags("Jobs");
        jobs.MapGet("/jobs/stats", StatsAsync).WithSummary("Count jobs by kind and state");
        jobs.MapGet("/jobs", ListAsync).WithSummary("List jobs")
            .WithDescription("Query: state, kind, queue, limit (1–200, default 50), before_id (keyset, newest first).");
        jobs.MapGet("/jobs/{jobId:long}", GetAsync).WithSummary("One job with its payload and errors");
        jobs.MapPost("/jobs/{jobId:long}/retry", (long jobId, HttpContext http, NpgsqlDataSource db, TimeProvider time, CancellationToken ct) =>
                ChangeAsync(jobId, "retry", RetrySql, http, db, time, ct))
            .DeclaresProblem(StatusCodes.Status409Conflict, "The job's state does not allow this, or another live job has its unique key.")
            .WithSummary("Retry a finished job now").WithDescription("For discarded, cancelled, completed or retryable jobs; 409 otherwise.");
        jobs.MapPost("/jobs/{jobId:long}/cancel", (long jobId, HttpContext http, NpgsqlDataSource db, TimeProvider time, CancellationToken ct) =>
                ChangeAsync(jobId, "cancel", CancelSql, http, db, time, ct))
            .DeclaresProblem(StatusCodes.Status409Conflict, "The job's state does not allow this, or another live job has its unique key.")
            .WithSummary("Cancel a job that has not started").WithDescription("For available or retryable jobs; 409 otherwise (a running job finishes).");
        jobs.MapPost("/jobs/{jobId:long}/run-now", (long jobId, HttpContext http, NpgsqlDataSource db, TimeProvider time, CancellationToken ct) =>
                ChangeAsync(jobId, "run_now", RunNowSql, http, db, time, ct))
            .DeclaresProblem(StatusCodes.Status409Conflict, "The job's state does not allow this, or another live job has its unique key.")
            .WithSummary("Make a waiting job due now").WithDescription("For available or retryable jobs; 409 otherwise.");
    }

    internal static async Task<Ok<List<Count>>> StatsAsync(NpgsqlDataSource db, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand("select kind, state, count(*) as count from job group by kind, state order by kind, state");
        var counts = new List<Count>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            counts.Add(new Count(reader.Get<string>("kind"), reader.Get<string>("state"), reader.Get<long>("count")));
        }

        return TypedResults.Ok(counts);
    }

    internal static async Task<Results<Ok<List<Job>>, ValidationProblem>> ListAsync(
        [AllowedValues("available", "running", "retryable", "completed", "discarded", "cancelled", null)] string? state, string? kind, string? queue, [Range(1, 200)] int? limit, [FromQuery(Name = "before_id")] long? beforeId, NpgsqlDataSource db, CancellationToken cancellationToken)
    {
        var validation = new Validation()
            .Require(state is null or "available" or "running" or "retryable" or "completed" or "discarded" or "cancelled", "state",
                "One of available, running, retryable, completed, discarded, cancelled.")
            .Require(limit is null or (>= 1 and <= 200), "limit", "Must be 1 to 200.");
        if (!validation.IsValid)
        {
            return validation.Problem();
        }

        await using var command = db.CreateCommand(ListSql);
        command.With("state", state);
        command.With("kind", kind);
        command.With("queue", queue);
        command.With("before_id", beforeId ?? long.MaxValue);
        command.With("limit", limit ?? 50);
        return TypedResults.Ok(await ReadAsync(command, cancellationToken));
    }

    internal static async Task<Results<Ok<Job>, ProblemHttpResult>> GetAsync(long jobId, NpgsqlDataSource db, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand(OneSql);
        command.With("job_id", jobId);
        return (await ReadAsync(command, cancellationToken)).FirstOrDefault() is { } job ? TypedResults.Ok(job) : Problems.NotFound("Job");
    }

    private static async Task<Results<Ok<Job>, ProblemHttpResult>> ChangeAsync(
        long jobId, string action, string sql, HttpContext http, NpgsqlDataSource db, TimeProvider time, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        string? before;
        await using (var current = new NpgsqlCommand("select state from job where job_id = @job_id for update", connection))
        {
            current.With("job_id", jobId);
            before = (string?)await current.ExecuteScalarAsync(cancellationToken);
        }

        if (before is null)
        {
            return Problems.NotFound("Job");
        }

        await using var change = new NpgsqlCommand(sql, connection);
        change.With("job_id", jobId);
        change.With("now", now);
        try
        {
            if (await change.ExecuteNonQueryAsync(cancellationToken) == 0)
            {
                return Problems.Conflict("Not possible now.", $"Job {jobId} is {before}; it cannot be {action.Replace('_', ' ')} from that state.");
            }
        }
        catch (PostgresException ex) when (ex.ProblemFor(
            new OnConstraint("job_unique_key_live_uq", () => Problems.Conflict("A live duplicate exists.", "Another live job has the same unique key; retry that one instead."))) is { } problem)
        {
            return problem;
        }

        var after = new NpgsqlCommand("select state from job where job_id = @job_id", connection);
        await using (after)
        {
            after.With("job_id", jobId);
            await AuditLog.RecordAsync(connection, http.User.UserId(), $"job.{action}", "job", jobId,
                new { State = before }, new { State = (string?)await after.ExecuteScalarAsync(cancellationToken) }, now, cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        await using var read = db.CreateCommand(OneSql);
        read.With("job_id", jobId);
        return TypedResults.Ok((await ReadAsync(read, cancellationToken)).Single());
    }

    private static async Task<List<Job>> ReadAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        var jobs = new List<Job>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            using var payload = JsonDocument.Parse(reader.Get<string>("payload"));
            using var errors = JsonDocument.Parse(reader.Get<string>("errors"));
            jobs.Add(new Job(reader.Get<long>("job_id"), reader.Get<string>("kind"), reader.Get<string>("queue"), reader.Get<string>("state"),
                reader.Get<int>("attempt"), reader.Get<int>("max_attempts"), reader.Get<DateTimeOffset>("run_at"), reader.Get<DateTimeOffset>("created_at"),
                reader.Get<DateTimeOffset?>("finalized_at"), reader.Get<string?>("leased_by"), reader.Get<string?>("unique_key"),
                payload.RootElement.Clone(), errors.RootElement.Clone()));
        }

        return jobs;
    }

    private const string Columns = "job_id, kind, queue, state, attempt, max_attempts, run_at, created_at, finalized_at, leased_by, unique_key, payload::text as payload, errors::text as errors";

    private const string ListSql = "select " + Columns + """

        from job
        where job_id < @before_id
          and (@state::text is null or state = @state)
          and (@kind::text is null or kind = @kind)
          and (@queue::text is null or queue = @queue)
        order by job_id desc
        limit @limit
        """;

    private const string OneSql = "select " + Columns + " from job where job_id = @job_id";

    // A retried job gets at least one more attempt; a finished one is un-finalized.
    private const string RetrySql = $"""
        update job
        set state = 'available', run_at = @now, finalized_at = null, max_attempts = greatest(max_attempts, attempt + 1)
        where job_id = @job_id and state in ('discarded', 'cancelled', 'completed', 'retryable');
        select pg_notify('{JobOutbox.Channel}', queue) from job where job_id = @job_id and state = 'available';
        """;

    private const string CancelSql = """
        update job set state = 'cancelled', finalized_at = @now where job_id = @job_id and state in ('available', 'retryable')
        """;

    private const string RunNowSql = $"""
        update job set run_at = @now where job_id = @job_id and state in ('available', 'retryable');
        select pg_notify('{JobOutbox.Channel}', queue) from job where job_id = @job_id and state in ('available', 'retryable') and run_at = @now;
        """;
}

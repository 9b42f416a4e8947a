namespace Holdfast.Infrastructure.Jobs;

// The job kinds of the engine's own plumbing, listed here as the features' kinds are listed in
// src/Features/Jobs (one file per kind). Every IJobArgs record lives in one of those two places;
// an architecture test says so (ArchitectureTests.Rule6).
//
//   jobs.prune         PruneJobsArgs             recurring (every 10 min), handler PruneJobs
//   jobs.noop          NoopJobArgs               benchmarks and failure drills, handler NoopJob
//   idempotency.prune  PruneIdempotencyKeysArgs  recurring (hourly), handler Http/PruneIdempotencyKeys

/// <summary>A <c>jobs.prune</c> run: deletes finished jobs past their retention (<see cref="PruneJobs"/>).</summary>
public sealed record PruneJobsArgs : ScheduledRun, IJobArgs
{
    /// <inheritdoc />
    public static string Kind => "jobs.prune";
}

/// <summary>A <c>jobs.noop</c> job (<see cref="NoopJob"/>).</summary>
/// <param name="SleepMs">How long to wait, in milliseconds; none when null.</param>
public sealed record NoopJobArgs(int? SleepMs = null) : IJobArgs
{
    /// <inheritdoc />
    public static string Kind => "jobs.noop";
}

/// <summary>An <c>idempotency.prune</c> run: forgets idempotency keys older than 24 hours (<c>Http/PruneIdempotencyKeys</c>).</summary>
public sealed record PruneIdempotencyKeysArgs : ScheduledRun, IJobArgs
{
    /// <inheritdoc />
    public static string Kind => "idempotency.prune";
}

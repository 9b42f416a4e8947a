using Holdfast.Infrastructure;
using Holdfast.Infrastructure.Jobs;
using Holdfast.Infrastructure.SeatFeed;
using Npgsql;

namespace Holdfast.Features.Holds;

/// <summary>
/// The <c>hold.expire</c> job, inserted by <see cref="HoldSeats"/> in the hold's own transaction with
/// <c>run_at = expires_at</c>: releases the seats of a hold nobody booked, and announces it on the
/// seat feed. Idempotent: a hold that was released or booked meanwhile is left alone.
/// </summary>
public sealed class ExpireHold(NpgsqlDataSource db, SeatFeedAnnouncer announcer, TimeProvider time, HoldfastMetrics metrics) : IJobHandler
{
    /// <summary>The job kind.</summary>
    public const string JobKind = "hold.expire";

    /// <inheritdoc />
    public string Kind => JobKind;

    /// <inheritdoc />
    public async Task HandleAsync(JobContext job, CancellationToken cancellationToken)
    {
        var holdId = job.Payload.GetProperty("hold_id").GetInt64();
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        var now = time.GetUtcNow();
        if (await ReleaseHold.EndHoldReturningExpiryAsync(connection, holdId, ownerId: null, "expired", now, cancellationToken) is (var showId, var dueAt))
        {
            announcer.Changed(showId);
            metrics.HoldExpired(dueAt, now);
            return;
        }

        // Not ended: either it is no longer active (fine, nothing to do) or the job ran before
        // expires_at (a clock ahead of the database's); then fail so the engine retries it shortly.
        await using var command = new NpgsqlCommand(StillDueSql, connection);
        command.Parameters.Add(new NpgsqlParameter<long>("hold_id", holdId));
        if (await command.ExecuteScalarAsync(cancellationToken) is DateTime expiresAt)
        {
            throw new InvalidOperationException($"Hold {holdId} expires at {expiresAt:O}, after now ({now:O}); retrying.");
        }
    }

    private const string StillDueSql = """
        select expires_at from hold where hold_id = @hold_id and status = 'active'
        """;
}

using Holdfast.Features.Inventory;
using Holdfast.Features.Jobs;
using Holdfast.Infrastructure;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Jobs;
using Holdfast.Infrastructure.SeatFeed;
using Npgsql;

namespace Holdfast.Features.Holds;

/// <summary>
/// The <c>hold.expire</c> job (<see cref="HoldExpiry"/>), inserted with the hold by
/// <see cref="SeatInventory.TakeAsync"/> with <c>run_at = expires_at</c>: releases the seats of a hold
/// nobody booked, and announces it on the seat feed. Idempotent: a hold that was released or booked
/// meanwhile is left alone.
/// </summary>
public sealed class ExpireHold(NpgsqlDataSource db, SeatFeedAnnouncer announcer, TimeProvider time, HoldfastMetrics metrics) : JobHandler<HoldExpiry>
{
    /// <inheritdoc />
    public override async Task HandleAsync(JobContext job, HoldExpiry args, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        var now = time.GetUtcNow();
        if (await SeatInventory.ExpireAsync(SeatTransaction.Autocommit(connection, announcer), args.HoldId, now, cancellationToken) is (_, var dueAt))
        {
            metrics.HoldExpired(dueAt, now);
            return;
        }

        // Not ended: either it is no longer active (fine, nothing to do) or the job ran before
        // expires_at (a clock ahead of the database's); then fail so the engine retries it shortly.
        await using var command = new NpgsqlCommand(StillDueSql, connection).With("hold_id", args.HoldId);
        if (await command.ExecuteScalarAsync(cancellationToken) is DateTime expiresAt)
        {
            throw new InvalidOperationException($"Hold {args.HoldId} expires at {expiresAt:O}, after now ({now:O}); retrying.");
        }
    }

    private const string StillDueSql = """
        select expires_at from hold where hold_id = @hold_id and status = 'active'
        """;
}

using Carter;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Http;
using Holdfast.Infrastructure.SeatFeed;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace Holdfast.Features.Holds;

/// <summary>
/// <c>DELETE /holds/{id}</c>: the customer gives the seats back. Shares <see cref="EndHoldAsync"/>
/// with <see cref="ExpireHold"/>, which ends holds at <c>expires_at</c>.
/// </summary>
public sealed class ReleaseHold : ICarterModule
{
    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app) =>
        app.MapDelete("/holds/{holdId:long}", HandleAsync)
            .RequireAuthorization()
            .WithTags("Holds")
            .WithSummary("Release a hold")
            .WithDescription("204 when released; 404 when no such hold is yours (admins may release any); 409 when it already ended " +
                             "or a checkout of it awaits payment.");

    internal static async Task<Results<NoContent, ProblemHttpResult>> HandleAsync(
        long holdId, HttpContext http, NpgsqlDataSource db, SeatFeedAnnouncer announcer, TimeProvider time, CancellationToken cancellationToken)
    {
        // Admins may release anyone's hold (e.g. for a customer on the phone); everyone else only their own.
        var admin = http.User.IsAdmin();
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        // One round trip. A batch outside a transaction runs as one implicit transaction (the
        // protocol's Sync ends it), so the row lock of the first statement holds to the end, and
        // each later statement's snapshot is taken after it was granted: a checkout that committed
        // while we waited is seen. The release statement only acts when the hold is the caller's,
        // still active, and no checkout is paying for it; the first two results say why it did not.
        await using var batch = new NpgsqlBatch(connection)
        {
            BatchCommands = { new NpgsqlBatchCommand(LockOwnHoldSql), new NpgsqlBatchCommand(PendingCheckoutSql), new NpgsqlBatchCommand(EndHoldSql) },
        };
        var userId = http.User.UserId();
        batch.BatchCommands[0].Parameters.Add(new NpgsqlParameter<long>("hold_id", holdId));
        batch.BatchCommands[0].Parameters.Add(new NpgsqlParameter<long>("user_id", userId));
        batch.BatchCommands[0].Parameters.Add(new NpgsqlParameter<bool>("is_admin", admin));
        batch.BatchCommands[1].Parameters.Add(new NpgsqlParameter<long>("hold_id", holdId));
        AddEndHoldParameters(batch.BatchCommands[2].Parameters, holdId, admin ? null : userId, "released", time.GetUtcNow());

        string? status;
        long? bookingId;
        long? releasedShowId;
        await using (var reader = await batch.ExecuteReaderAsync(cancellationToken))
        {
            status = await reader.ReadAsync(cancellationToken) ? reader.GetString(0) : null;
            await reader.NextResultAsync(cancellationToken);
            bookingId = await reader.ReadAsync(cancellationToken) ? reader.GetInt64(0) : null;
            await reader.NextResultAsync(cancellationToken);
            releasedShowId = await reader.ReadAsync(cancellationToken) ? reader.GetInt64(1) : null;
        }

        if (releasedShowId is { } releasedFrom)
        {
            announcer.Changed(releasedFrom);
            return TypedResults.NoContent();
        }

        if (status is null)
        {
            return Problems.NotFound("Hold");
        }

        if (bookingId is not null)
        {
            return Problems.Conflict("Checkout in progress.", $"Booking {bookingId} is paying for these seats; pay, or let its deadline pass.",
                new Dictionary<string, object?> { ["booking_id"] = bookingId });
        }

        return Problems.Conflict("Hold already ended.", $"Hold {holdId} is {status}.", new Dictionary<string, object?> { ["hold_status"] = status });
    }

    /// <summary>
    /// Ends an active hold as <paramref name="endStatus"/> (<c>released</c> or <c>expired</c>) and frees
    /// its seats, in one statement: the hold row's status flip is the compare-and-set that makes a
    /// release racing an expiry or a booking end the hold exactly once.
    /// </summary>
    /// <param name="connection">An open connection (autocommit: the statement is its own transaction).</param>
    /// <param name="holdId">The hold.</param>
    /// <param name="ownerId">Only end it if this account owns it; null for the expiry job.</param>
    /// <param name="endStatus"><c>released</c> or <c>expired</c>; <c>expired</c> also requires <c>expires_at &lt;= now</c>,
    /// <c>released</c> that no checkout of the hold awaits payment.</param>
    /// <param name="now">The current instant (UTC).</param>
    /// <param name="cancellationToken">Cancels the statement.</param>
    /// <returns>The hold's show when this call ended the hold (announce it with <see cref="SeatFeedAnnouncer.Changed"/>
    /// once the transaction commits); null when it was not active (or not yet due, or not the owner's).</returns>
    internal static async Task<long?> EndHoldAsync(
        NpgsqlConnection connection, long holdId, long? ownerId, string endStatus, DateTimeOffset now, CancellationToken cancellationToken) =>
        (await EndHoldReturningExpiryAsync(connection, holdId, ownerId, endStatus, now, cancellationToken))?.ShowId;

    /// <summary>As <see cref="EndHoldAsync"/>, also giving the ended hold's <c>expires_at</c>.</summary>
    internal static async Task<(long ShowId, DateTimeOffset ExpiresAt)?> EndHoldReturningExpiryAsync(
        NpgsqlConnection connection, long holdId, long? ownerId, string endStatus, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(EndHoldSql, connection);
        AddEndHoldParameters(command.Parameters, holdId, ownerId, endStatus, now);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? (reader.GetInt64(1), reader.GetFieldValue<DateTimeOffset>(3)) : null;
    }

    private static void AddEndHoldParameters(NpgsqlParameterCollection parameters, long holdId, long? ownerId, string endStatus, DateTimeOffset now)
    {
        parameters.Add(new NpgsqlParameter<long>("hold_id", holdId));
        parameters.Add(new NpgsqlParameter<long?>("owner_id", ownerId));
        parameters.Add(new NpgsqlParameter<string>("end_status", endStatus));
        parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", now));
    }

    // An expiry only ends a hold that is past due; a release only the owner's, and not while a
    // checkout is paying for it. The seat flip checks hold_id so it can never free a seat that has
    // since moved to another hold or a booking.
    private const string EndHoldSql = """
        with ended as (
          update hold
          set status = @end_status, ended_at = @now
          where hold_id = @hold_id
            and status = 'active'
            and (@owner_id::bigint is null or app_user_id = @owner_id)
            and (@end_status <> 'expired' or expires_at <= @now)
            and (@end_status <> 'released'
                 or not exists (select 1 from booking b where b.hold_id = hold.hold_id and b.status = 'pending_payment'))
          returning hold_id, show_id, expires_at
        ), freed as (
          update show_seat ss
          set state = 'available', hold_id = null
          from ended, hold_seat hs
          where hs.hold_id = ended.hold_id
            and ss.show_id = ended.show_id and ss.seat_id = hs.seat_id
            and ss.hold_id = ended.hold_id
          returning ss.seat_id
        ), expiry as (
          update job
          set state = 'cancelled', finalized_at = @now
          from ended
          where job.kind = 'hold.expire' and job.unique_key = 'hold:' || ended.hold_id
            and job.state in ('available', 'retryable')
        )
        select ended.hold_id, ended.show_id,
               seat_feed_append(ended.show_id, @end_status, 'available',
                                (select array_agg(seat_id order by seat_id) from freed), @now),
               ended.expires_at
        from ended
        """;

    // Another customer's hold is not found (and not locked).
    private const string LockOwnHoldSql = """
        select status from hold where hold_id = @hold_id and (app_user_id = @user_id or @is_admin) for update
        """;

    private const string PendingCheckoutSql = """
        select booking_id from booking where hold_id = @hold_id and status = 'pending_payment'
        """;
}

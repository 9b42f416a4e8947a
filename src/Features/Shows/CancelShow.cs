using Holdfast.Infrastructure;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace Holdfast.Features.Shows;

/// <summary>
/// <c>POST /shows/{id}/cancel</c>: the owning organizer or an admin cancels a show. From the
/// commit on, no hold is taken; live holds are released at once and announced on the seat feed as
/// one event; every confirmed booking gets a cancellation email (a job each). Refunding them
/// belongs to the payments issue, which hooks in here.
/// </summary>
public sealed class CancelShow : ICarterModule
{
    /// <summary>What the cancellation did.</summary>
    /// <param name="ShowId">The show.</param>
    /// <param name="Status">Always <c>cancelled</c>.</param>
    /// <param name="HoldsReleased">Live holds ended by it.</param>
    public sealed record Response(long ShowId, string Status, int HoldsReleased);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app) =>
        app.MapPost("/shows/{showId:long}/cancel", HandleAsync)
            .RequireAuthorization(Roles.Organizer)
            .WithTags("Catalogue")
            .WithSummary("Cancel a show")
            .WithDescription("The organizer owning its venue or event, or an admin. 200; 404 when not yours; 409 when already cancelled or completed.");

    internal static async Task<Results<Ok<Response>, ProblemHttpResult>> HandleAsync(
        long showId, HttpContext http, NpgsqlDataSource db, TimeProvider time, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        string? status;
        await using (var lockShow = new NpgsqlCommand(LockSql, connection))
        {
            lockShow.Parameters.Add(new NpgsqlParameter<long>("show_id", showId));
            lockShow.Parameters.Add(new NpgsqlParameter<long>("user_id", http.User.UserId()));
            lockShow.Parameters.Add(new NpgsqlParameter<bool>("is_admin", http.User.IsAdmin()));
            status = (string?)await lockShow.ExecuteScalarAsync(cancellationToken);
        }

        if (status is null)
        {
            return Problems.NotFound("Show");
        }

        if (status is "cancelled" or "completed")
        {
            return Problems.Conflict("Show already ended.", $"Show {showId} is {status}.");
        }

        var now = time.GetUtcNow();
        await using var cancel = new NpgsqlCommand(CancelSql, connection);
        cancel.Parameters.Add(new NpgsqlParameter<long>("show_id", showId));
        cancel.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", now));
        int released;
        await using (var reader = await cancel.ExecuteReaderAsync(cancellationToken))
        {
            await reader.ReadAsync(cancellationToken);
            released = reader.GetInt32(0);
        }

        await AuditLog.RecordAsync(connection, http.User.UserId(), "show.cancelled", "show", showId,
            new { Status = status }, new { Status = "cancelled", HoldsReleased = released }, now, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return TypedResults.Ok(new Response(showId, "cancelled", released));
    }

    // FOR UPDATE conflicts with the KEY SHARE every hold takes on its show, so holds in flight
    // finish first (and are released below) and later ones see the cancellation.
    private const string LockSql = """
        select s.status
        from show s
        join venue v on v.venue_id = s.venue_id
        join event e on e.event_id = s.event_id
        where s.show_id = @show_id and (@is_admin or v.owner_app_user_id = @user_id or e.owner_app_user_id = @user_id)
        for update of s
        """;

    private const string CancelSql = """
        with cancelled as (
          update show set status = 'cancelled' where show_id = @show_id
        ), ended as (
          update hold set status = 'released', ended_at = @now
          where show_id = @show_id and status = 'active'
          returning hold_id
        ), freed as (
          update show_seat ss set state = 'available', hold_id = null
          from ended
          where ss.show_id = @show_id and ss.hold_id = ended.hold_id
          returning ss.seat_id
        ), expiries as (
          update job set state = 'cancelled', finalized_at = @now
          where kind = 'hold.expire' and unique_key in (select 'hold:' || hold_id from ended) and state in ('available', 'retryable')
        ), reminders as (
          update job set state = 'cancelled', finalized_at = @now
          where kind = 'reminder.send' and (payload->>'show_id')::bigint = @show_id and state in ('available', 'retryable')
        ), notices as (
          insert into job (kind, queue, payload, run_at, unique_key, max_attempts, created_at)
          select 'email.send', 'default', jsonb_build_object('template', 'show_cancelled', 'booking_id', booking_id), @now,
                 'show_cancelled:' || booking_id, 10, @now
          from booking where show_id = @show_id and status = 'confirmed'
          on conflict (kind, unique_key) where unique_key is not null and state in ('available', 'running', 'retryable') do nothing
        )
        select (select count(*)::int from ended),
               seat_feed_append(@show_id, 'released', 'available', (select array_agg(seat_id order by seat_id) from freed), @now)
        """;
}

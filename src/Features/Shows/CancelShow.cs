using Carter;
using Holdfast.Features.Catalogue;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Holdfast.Infrastructure.Jobs;
using Holdfast.Infrastructure.SeatFeed;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace Holdfast.Features.Shows;

/// <summary>
/// <c>POST /shows/{id}/cancel</c>: the owning organizer or an admin cancels a show. From the
/// commit on, no hold is taken; live holds are released at once and announced on the seat feed as
/// one event; every confirmed booking is cancelled and refunded in full (a refund job each, retried
/// until the provider confirms; its state shows on the booking) and gets a cancellation email.
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
        long showId, HttpContext http, NpgsqlDataSource db, JobOutbox outbox, SeatFeedAnnouncer announcer, TimeProvider time, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        string? status;
        await using (var lockShow = new NpgsqlCommand(LockSql, connection))
        {
            lockShow.Parameters.Add(new NpgsqlParameter<long>("show_id", showId));
            ShowOwnership.Bind(lockShow.Parameters, http.User);
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
        await Holdfast.Infrastructure.Caching.ReadCache.NotifyCatalogueChangedAsync(connection, cancellationToken);
        await outbox.WakeAsync(connection, "default", cancellationToken); // the refund and email jobs CancelSql queued
        await transaction.CommitAsync(cancellationToken);
        announcer.Changed(showId);
        return TypedResults.Ok(new Response(showId, "cancelled", released));
    }

    // FOR UPDATE conflicts with the KEY SHARE every hold takes on its show, so holds in flight
    // finish first (and are released below) and later ones see the cancellation.
    private const string LockSql = $$"""
        select s.status
        from show s
        join venue v on v.venue_id = s.venue_id
        join event e on e.event_id = s.event_id
        where s.show_id = @show_id and {{ShowOwnership.Condition}}
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
        ), targets as (
          select booking_id, paid_minor - refunded_minor as amount, currency from booking
          where show_id = @show_id and status = 'confirmed'
        ), refunded_bookings as (
          update booking b set status = 'cancelled', cancelled_at = @now, refunded_minor = b.paid_minor
          from targets t where b.booking_id = t.booking_id
        ), seats_back as (
          update booking_seat set active = false where booking_id in (select booking_id from targets)
        ), refunds as (
          insert into refund (booking_id, payment_attempt_id, amount_minor, currency, reason, idempotency_key, created_at, updated_at)
          select t.booking_id,
                 (select a.payment_attempt_id from payment_attempt a where a.booking_id = t.booking_id and a.status = 'succeeded' order by a.payment_attempt_id limit 1),
                 t.amount, t.currency, 'show_cancelled', 'refund-' || t.booking_id || '-show-cancelled', @now, @now
          from targets t where t.amount > 0
          returning refund_id
        ), refund_jobs as (
          insert into job (kind, queue, payload, run_at, unique_key, max_attempts, created_at)
          select 'payments.refund', 'default', jsonb_build_object('refund_id', refund_id), @now, 'refund:' || refund_id, 50, @now from refunds
        ), notices as (
          insert into job (kind, queue, payload, run_at, unique_key, max_attempts, created_at)
          select 'email.send', 'default', jsonb_build_object('template', 'show_cancelled', 'booking_id', booking_id), @now,
                 'show_cancelled:' || booking_id, 10, @now
          from targets
          on conflict (kind, unique_key) where unique_key is not null and state in ('available', 'running', 'retryable') do nothing
        )
        select (select count(*)::int from ended),
               seat_feed_append(@show_id, 'released', 'available', (select array_agg(seat_id order by seat_id) from freed), @now)
        """;
}

using Carter;
using Holdfast.Features.Catalogue;
using Holdfast.Features.Checkout;
using Holdfast.Features.Inventory;
using Holdfast.Features.Jobs;
using Holdfast.Features.Reminders;
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
            .DeclaresProblem(StatusCodes.Status409Conflict, "The show has already ended (cancelled or finished).")
            .RequireAuthorization(Roles.Organizer)
            .WithTags("Catalogue")
            .WithSummary("Cancel a show")
            .WithDescription("The organizer owning its venue or event, or an admin. 200; 404 when not yours; 409 when already cancelled or completed.");

    internal static async Task<Results<Ok<Response>, ProblemHttpResult>> HandleAsync(
        long showId, HttpContext http, NpgsqlDataSource db, JobOutbox outbox, SeatFeedAnnouncer announcer, TimeProvider time, CancellationToken cancellationToken)
    {
        await using var transaction = await SeatTransaction.OpenAsync(db, announcer, cancellationToken);
        var connection = transaction.Connection;
        string? status;
        await using (var lockShow = new NpgsqlCommand(LockSql, connection).With("show_id", showId))
        {
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
        // The inventory releases the holds and takes the seats out of the bookings; this slice's
        // statement, in the same round trip, cancels the show and refunds and tells its customers.
        var released = await SeatInventory.CancelShowAsync(transaction, showId, now,
            new NpgsqlBatchCommand(CancelSql).With("show_id", showId).With("now", now), cancellationToken);
        await AuditLog.RecordAsync(connection, http.User.UserId(), "show.cancelled", "show", showId,
            new { Status = status }, new { Status = "cancelled", HoldsReleased = released }, now, cancellationToken);
        await Holdfast.Infrastructure.Caching.ReadCache.NotifyCatalogueChangedAsync(connection, cancellationToken);
        await outbox.WakeAsync(connection, "default", cancellationToken); // the refund and email jobs CancelSql queued
        await transaction.CommitAsync(cancellationToken); // announces the released seats
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

    // Every confirmed booking cancelled and refunded in full (a refund job each) with a cancellation
    // email, and an SMS where the customer wants show changes by SMS; waiting reminders dropped. The booked seats left their bookings in the inventory's
    // statement just before this one.
    private static readonly string CancelSql = $$"""
        with cancelled as (
          update show set status = 'cancelled' where show_id = @show_id
        ), reminders as (
          {{ReminderSchedule.CancelForShowSql}}
        ), targets as (
          select booking_id, paid_minor - refunded_minor as amount, currency from booking
          where show_id = @show_id and status = 'confirmed'
        ), refunded_bookings as (
          update booking b set status = 'cancelled', cancelled_at = @now, refunded_minor = b.paid_minor
          from targets t where b.booking_id = t.booking_id
        ), refunds as (
          insert into refund (booking_id, payment_attempt_id, amount_minor, currency, reason, idempotency_key, created_at, updated_at)
          select t.booking_id,
                 (select a.payment_attempt_id from payment_attempt a where a.booking_id = t.booking_id and a.status = 'succeeded' order by a.payment_attempt_id limit 1),
                 t.amount, t.currency, 'show_cancelled', 'refund-' || t.booking_id || '-show-cancelled', @now, @now
          from targets t where t.amount > 0
          returning refund_id
        ), refund_jobs as (
          {{ProcessRefund.EnqueueSql("refunds")}}
        ), notices as (
          {{JobSql.Insert<EmailArgs>("select 'show_cancelled' as template, booking_id, @now as run_at, @now as created_at from targets", true, "template", "booking_id")}}
        ), texts as (
          {{SmsArgs.ForBookings("show_cancelled", "select booking_id from targets")}}
        )
        select 1
        """;
}

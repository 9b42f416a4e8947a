using Carter;
using Holdfast.Features.Inventory;
using Holdfast.Features.Jobs;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Holdfast.Infrastructure.Jobs;
using Holdfast.Infrastructure.SeatFeed;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.ModelBinding;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Holdfast.Features.Checkout;

/// <summary>
/// <c>POST /bookings/{id}/cancellation</c>: the customer gives back all or some seats of a confirmed
/// booking. The seats are released at once (and announced on the seat feed); the refund follows the
/// <see cref="RefundPolicy"/> and is paid through a job that retries until the provider confirms.
/// </summary>
public sealed class CancelBooking : ICarterModule
{
    /// <summary>Which seats to give back; all when omitted.</summary>
    public sealed record Request(long[]? SeatIds);

    /// <summary>What the cancellation did.</summary>
    /// <param name="BookingId">The booking.</param>
    /// <param name="Status"><c>confirmed</c> when seats remain, else <c>cancelled</c> (then <c>refunded</c> once the money is back).</param>
    /// <param name="SeatsReleased">Seat ids given back.</param>
    /// <param name="RefundPercent">The policy's share at this moment.</param>
    /// <param name="RefundMinor">Amount being refunded, minor units of the booking's currency.</param>
    public sealed record Response(long BookingId, string Status, long[] SeatsReleased, int RefundPercent, long RefundMinor);

    private sealed record Seat(long SeatId, long PriceMinor, bool Active);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app) =>
        app.MapPost("/bookings/{bookingId:long}/cancellation", HandleAsync)
            .DeclaresProblem(StatusCodes.Status409Conflict, "The booking is not confirmed, or its show has started.")
            .RequireAuthorization()
            .WithMetadata(new IdempotentAttribute())
            .WithTags("Bookings")
            .WithSummary("Cancel a booking or some of its seats")
            .WithDescription("200 with the refund under the policy (default: 100 % until 48 h before the show, 50 % until 2 h, then none). " +
                             "400 names seats not in the booking; 404 when not yours; 409 when not confirmed or the show has started.");

    internal static async Task<Results<Ok<Response>, ValidationProblem, ProblemHttpResult>> HandleAsync(
        long bookingId, [FromBody(EmptyBodyBehavior = EmptyBodyBehavior.Allow)] Request? request, HttpContext http, NpgsqlDataSource db,
        JobOutbox outbox, SeatFeedAnnouncer announcer, IOptions<RefundOptions> policy, TimeProvider time, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        await using var transaction = await SeatTransaction.OpenAsync(db, announcer, cancellationToken);
        var connection = transaction.Connection;
        string status, currency;
        DateTime startsAt;
        long showId, paid, refunded;
        await using (var read = new NpgsqlCommand(LockSql, connection))
        {
            read.With("booking_id", bookingId);
            read.With("user_id", http.User.UserId());
            await using var reader = await read.ExecuteReaderAsync(cancellationToken);
            if (!await reader.ReadAsync(cancellationToken))
            {
                return Problems.NotFound("Booking");
            }

            (status, startsAt, showId, currency, paid, refunded) =
                (reader.Get<string>("status"), reader.Get<DateTime>("starts_at"), reader.Get<long>("show_id"), reader.Get<string>("currency"),
                 reader.Get<long>("paid_minor"), reader.Get<long>("refunded_minor"));
        }

        if (status != "confirmed" || startsAt <= now.UtcDateTime)
        {
            return Problems.Conflict("Cannot cancel.", status != "confirmed" ? $"Booking {bookingId} is {status}." : "The show has started.",
                new Dictionary<string, object?> { ["booking_status"] = status });
        }

        var seats = await SeatsAsync(connection, bookingId, cancellationToken);
        var wanted = request?.SeatIds is { Length: > 0 } ids ? ids.Distinct().ToArray() : seats.Where(s => s.Active).Select(s => s.SeatId).ToArray();
        var unknown = wanted.Where(id => !seats.Any(s => s.SeatId == id && s.Active)).ToArray();
        if (unknown.Length > 0)
        {
            return new Validation().Add("seat_ids", $"Not active seats of this booking: {string.Join(", ", unknown)}.").Problem();
        }

        var percent = RefundPolicy.PercentFor(policy.Value.Tiers, new DateTimeOffset(startsAt, TimeSpan.Zero), now);
        var amount = Math.Min(RefundPolicy.Share(seats.Where(s => wanted.Contains(s.SeatId)).Sum(s => s.PriceMinor), percent), paid - refunded);
        var allGone = seats.Count(s => s.Active) == wanted.Length;

        // The seats go back through the inventory; the booking, its refund and its reminders change in
        // the statement sent with it, in the same round trip.
        var cancel = new NpgsqlBatchCommand(CancelSql)
            .With("booking_id", bookingId).With("seat_ids", wanted).With("all_gone", allGone).With("amount", amount).With("currency", currency)
            .With("key", $"refund-{bookingId}-cancel-{Guid.NewGuid():N}").With("actor", http.User.UserId()).With("now", now);
        await SeatInventory.ReturnAsync(transaction, bookingId, showId, wanted, now, cancel, cancellationToken);
        if (allGone)
        {
            await outbox.EnqueueAsync(connection, EmailArgs.ForBooking("booking_cancelled", bookingId), cancellationToken);
        }

        await outbox.WakeAsync(connection, RefundArgs.Options.Queue, cancellationToken); // the refund job CancelSql queued
        await transaction.CommitAsync(cancellationToken); // announces the returned seats
        return TypedResults.Ok(new Response(bookingId, allGone ? "cancelled" : "confirmed", wanted.Order().ToArray(), percent, amount));
    }

    private static async Task<List<Seat>> SeatsAsync(NpgsqlConnection connection, long bookingId, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("select seat_id, price_minor, active from booking_seat where booking_id = @booking_id", connection);
        command.With("booking_id", bookingId);
        var seats = new List<Seat>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            seats.Add(new Seat(reader.Get<long>("seat_id"), reader.Get<long>("price_minor"), reader.Get<bool>("active")));
        }

        return seats;
    }

    private const string LockSql = """
        select b.status, s.starts_at, b.show_id, b.currency, b.paid_minor, b.refunded_minor
        from booking b join show s on s.show_id = b.show_id
        where b.booking_id = @booking_id and b.app_user_id = @user_id
        for update of b
        """;

    // The booking shrunk or cancelled, the refund reserved against what was paid and handed to a
    // job, in one statement. (The seats went back to sale in the inventory's statement just before
    // it.) Reminders need nothing: each checks that its booking is still confirmed when it runs.
    private static readonly string CancelSql = $$"""
        with shrunk as (
          update booking set status = case when @all_gone then 'cancelled' else status end,
                             cancelled_at = case when @all_gone then @now else cancelled_at end,
                             refunded_minor = refunded_minor + @amount
          where booking_id = @booking_id
        ), refunded as (
          insert into refund (booking_id, payment_attempt_id, amount_minor, currency, reason, idempotency_key, created_at, updated_at)
          select @booking_id, a.payment_attempt_id, @amount, @currency, 'requested_by_customer', @key, @now, @now
          from payment_attempt a
          where @amount > 0 and a.booking_id = @booking_id and a.status = 'succeeded'
          order by a.payment_attempt_id limit 1
          returning refund_id
        ), refund_job as (
          {{ProcessRefund.EnqueueSql("refunded")}}
        ), audited as (
          insert into audit_log (occurred_at, actor_user_id, action, entity, entity_id, before, after)
          values (@now, @actor, case when @all_gone then 'booking.cancelled' else 'booking.seats_cancelled' end, 'booking', @booking_id,
                  jsonb_build_object('status', 'confirmed'),
                  jsonb_build_object('seat_ids', @seat_ids, 'refund_minor', @amount, 'status', case when @all_gone then 'cancelled' else 'confirmed' end))
        )
        select 1
        """;
}

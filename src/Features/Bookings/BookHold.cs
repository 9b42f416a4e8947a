using Holdfast.Features.Notifications;
using Holdfast.Features.Reminders;
using Holdfast.Infrastructure;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Http;
using Holdfast.Infrastructure.Jobs;
using Holdfast.Infrastructure.Payments;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Holdfast.Features.Bookings;

/// <summary>
/// <c>POST /holds/{id}/booking</c>: checks out a live hold through the payment gateway. The booking
/// is confirmed and its seats booked in one transaction that holds the hold's row lock, so a racing
/// release or expiry either happens before (and this answers 409) or finds the hold already booked.
/// </summary>
public sealed class BookHold : ICarterModule
{
    private sealed record HoldRow(string Status, DateTime ExpiresAt, long ShowId, string Currency, long TotalMinor, int SeatCount, long? BookingId);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app) =>
        app.MapPost("/holds/{holdId:long}/booking", HandleAsync)
            .RequireAuthorization()
            .WithMetadata(new IdempotentAttribute())
            .WithTags("Bookings")
            .WithSummary("Book a hold (checkout)")
            .WithDescription("201 with the confirmed booking. 404 when the hold is not yours; 409 when it expired, was released " +
                             "or is already booked (booking_id given); 402 when the payment is declined (the hold stays live).");

    internal static async Task<Results<Created<GetBooking.Response>, ProblemHttpResult>> HandleAsync(
        long holdId, HttpContext http, NpgsqlDataSource db, IPaymentGateway gateway, JobOutbox outbox, IOptions<ReminderOptions> reminders,
        TimeProvider time, CancellationToken cancellationToken)
    {
        var userId = http.User.UserId();
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);

        var hold = await LockHoldAsync(connection, holdId, userId, cancellationToken);
        var now = time.GetUtcNow();
        if (hold is null)
        {
            return Problems.NotFound("Hold");
        }

        if (hold.Status == "booked")
        {
            return Problems.Conflict("Hold already booked.", $"Hold {holdId} is booking {hold.BookingId}.",
                new Dictionary<string, object?> { ["booking_id"] = hold.BookingId });
        }

        if (hold.Status != "active" || hold.ExpiresAt <= now.UtcDateTime)
        {
            var status = hold.Status == "active" ? "expired" : hold.Status;
            return Problems.Conflict("Hold no longer live.", $"Hold {holdId} is {status}; hold the seats again.",
                new Dictionary<string, object?> { ["hold_status"] = status });
        }

        // One idempotency key per attempt (a declined card must not poison the retry: alf.io #1254).
        var payment = await gateway.ChargeAsync(
            new PaymentRequest(hold.TotalMinor, hold.Currency, $"hold-{holdId}-{Guid.NewGuid():N}", $"Holdfast hold {holdId}"),
            cancellationToken);
        if (!payment.Succeeded)
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status402PaymentRequired, title: "Payment declined.",
                detail: payment.DeclineReason ?? "The payment was declined; the hold stays live until it expires.");
        }

        var bookingId = await ConfirmAsync(connection, holdId, userId, hold, gateway.Provider, payment.Reference, now, cancellationToken);
        await outbox.EnqueueAsync(connection, SendEmail.ForBooking("booking_confirmed", bookingId), cancellationToken);
        await ReminderSchedule.ScheduleAsync(connection, bookingId, reminders.Value, now, cancellationToken);
        await transaction.CommitAsync(cancellationToken);

        var booking = await GetBooking.LoadAsync(connection, bookingId, userId, cancellationToken);
        return TypedResults.Created($"/bookings/{bookingId}", booking!);
    }

    private static async Task<HoldRow?> LockHoldAsync(NpgsqlConnection connection, long holdId, long userId, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(LockHoldSql, connection);
        command.Parameters.Add(new NpgsqlParameter<long>("hold_id", holdId));
        command.Parameters.Add(new NpgsqlParameter<long>("user_id", userId));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }

        return new HoldRow(reader.GetString(0), reader.GetDateTime(1), reader.GetInt64(2), reader.GetString(3), reader.GetInt64(4),
            reader.GetInt32(5), reader.IsDBNull(6) ? null : reader.GetInt64(6));
    }

    private static async Task<long> ConfirmAsync(
        NpgsqlConnection connection, long holdId, long userId, HoldRow hold, string provider, string reference, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(ConfirmSql, connection);
        command.Parameters.Add(new NpgsqlParameter<long>("hold_id", holdId));
        command.Parameters.Add(new NpgsqlParameter<long>("user_id", userId));
        command.Parameters.Add(new NpgsqlParameter<long>("show_id", hold.ShowId));
        command.Parameters.Add(new NpgsqlParameter<string>("currency", hold.Currency));
        command.Parameters.Add(new NpgsqlParameter<long>("total_minor", hold.TotalMinor));
        command.Parameters.Add(new NpgsqlParameter<string>("provider", provider));
        command.Parameters.Add(new NpgsqlParameter<string>("reference", reference));
        command.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", now));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        var bookingId = reader.GetInt64(0);
        var booked = reader.GetInt64(1);
        if (booked != hold.SeatCount)
        {
            // Under the hold's row lock its seats cannot move; if they did, refuse to confirm (rolled back on dispose).
            throw new InvalidOperationException($"Hold {holdId}: booked {booked} of {hold.SeatCount} seats.");
        }

        return bookingId;
    }

    // The row lock serializes this checkout with a release or an expiry of the same hold.
    private const string LockHoldSql = """
        select h.status, h.expires_at, h.show_id, h.currency, h.total_minor, h.seat_count, b.booking_id
        from hold h
        left join booking b on b.hold_id = h.hold_id
        where h.hold_id = @hold_id and h.app_user_id = @user_id
        for update of h
        """;

    // booking_seat_one_active_sale refuses a second live sale of a seat even if everything above failed.
    private const string ConfirmSql = """
        with new_booking as (
          insert into booking (hold_id, show_id, app_user_id, status, currency, total_minor, payment_provider, payment_reference, created_at, confirmed_at)
          values (@hold_id, @show_id, @user_id, 'confirmed', @currency, @total_minor, @provider, @reference, @now, @now)
          returning booking_id
        ), sold as (
          insert into booking_seat (booking_id, show_id, seat_id, category, price_minor)
          select new_booking.booking_id, @show_id, hs.seat_id, hs.category, hs.price_minor
          from new_booking, hold_seat hs
          where hs.hold_id = @hold_id
        ), marked as (
          update show_seat ss
          set state = 'booked', hold_id = null, booking_id = new_booking.booking_id
          from new_booking, hold_seat hs
          where hs.hold_id = @hold_id and ss.show_id = @show_id and ss.seat_id = hs.seat_id
            and ss.state = 'held' and ss.hold_id = @hold_id
          returning ss.seat_id
        ), ended as (
          update hold set status = 'booked', ended_at = @now where hold_id = @hold_id
        ), expiry as (
          update job
          set state = 'cancelled', finalized_at = @now
          where kind = 'hold.expire' and unique_key = 'hold:' || @hold_id and state in ('available', 'retryable')
        ), audited as (
          insert into audit_log (occurred_at, actor_user_id, action, entity, entity_id, before, after)
          select @now, @user_id, 'booking.confirmed', 'booking', booking_id,
                 jsonb_build_object('hold_id', @hold_id, 'hold_status', 'active'),
                 jsonb_build_object('status', 'confirmed', 'total_minor', @total_minor, 'currency', @currency,
                                    'payment_provider', @provider, 'payment_reference', @reference)
          from new_booking
        )
        select (select booking_id from new_booking),
               (select count(*) from marked),
               seat_feed_append(@show_id, 'booked', 'booked', (select array_agg(seat_id order by seat_id) from marked), @now)
        """;
}

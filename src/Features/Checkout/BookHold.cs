using Carter;
using Holdfast.Features.Inventory;
using Holdfast.Features.Jobs;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Holdfast.Infrastructure.Jobs;
using Holdfast.Infrastructure.Payments;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.ModelBinding;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Holdfast.Features.Checkout;

/// <summary>
/// <c>POST /holds/{id}/booking</c>: checkout. Turns a live hold into a booking awaiting payment (its
/// seats stay held, now until the payment deadline) and starts a payment: a PaymentIntent for the
/// hold's locked total. The booking is confirmed, and its seats booked, only when the payment
/// succeeds: at once with the fake gateway's default card, or when Stripe's webhook says so.
/// </summary>
/// <remarks>
/// Two connections, one after the other, never two at once, and four round trips with the fake
/// gateway (issue 17; issue 13 counted four connections and a dozen round trips):
/// <list type="number">
/// <item>the checkout, ONE statement (its own transaction): lock the hold, and if it is live and not
/// checked out, create the booking and its payment attempt, hand the hold over, queue the deadline
/// job. It commits before the provider is called, and the connection goes back to the pool: a
/// connection (and row locks) held across an HTTP call to Stripe would let provider latency exhaust
/// the pool and stall every hold on the show.</item>
/// <item>once the provider answered, one connection for the rest: a success is processed
/// (<see cref="PaymentProcessing.SucceededAsync(NpgsqlConnection, string, string, long, PaymentProcessing.AttemptAnswer?, CancellationToken, ProviderEvent?)"/>,
/// the same transaction a webhook or the deadline job runs, so all confirm alike and once) with the
/// provider's answer recorded first in it (lock; book, mark paid, queue email and reminders; commit:
/// three round trips), then the booking is read back (one).</item>
/// </list>
/// The attempt is durable before the provider is called (decision 0017); its answer, if the
/// confirmation is lost, is found again by replaying the create with the attempt's key.
/// </remarks>
public sealed class BookHold : ICarterModule
{
    /// <summary>Optional: a payment method to confirm with at once (Stripe test ids such as <c>pm_card_visa</c>; see <see cref="FakePaymentGateway"/>).</summary>
    public sealed record Request(string? PaymentMethod);

    // What the checkout statement found and did: the hold, any booking it already had, and the new
    // booking with its attempt when the hold was live (all three null otherwise).
    private sealed record Started(string Status, string Currency, long TotalMinor, long? ExistingBookingId, string? ExistingStatus,
        long? BookingId, long? AttemptId, string? Key);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app) =>
        app.MapPost("/holds/{holdId:long}/booking", HandleAsync)
            .WithRequestExample(new { payment_method = "pm_card_visa" })
            .DeclaresProblem(StatusCodes.Status402PaymentRequired, "The payment was declined; `decline_code` says why. The booking stays payable until its deadline (`POST /bookings/{id}/payments`).")
            .DeclaresProblem(StatusCodes.Status409Conflict, "The hold is already booked or being paid for, or it is no longer live (`hold_status`): hold the seats again.")
            .DeclaresProblem(StatusCodes.Status502BadGateway, "The payment provider could not be reached or failed; nothing was charged twice, retry with the same `Idempotency-Key`.")
            .RequireAuthorization()
            .WithMetadata(new IdempotentAttribute())
            .WithTags("Bookings")
            .WithSummary("Check out a hold")
            .WithDescription("201 with the booking: confirmed when paid at once, else pending_payment with payment.client_secret for Stripe.js " +
                             "and a payment_deadline. 402 when declined (the booking stays payable: POST /bookings/{id}/payments); 502 when the " +
                             "provider is down. 404 when the hold is not yours; 409 when it ended or is already checked out (booking_id given).");

    internal static async Task<Results<Created<GetBooking.Response>, ProblemHttpResult>> HandleAsync(
        long holdId, [FromBody(EmptyBodyBehavior = EmptyBodyBehavior.Allow)] Request? request, HttpContext http, NpgsqlDataSource db,
        IPaymentGateway gateway, PaymentProcessing payments, IOptions<PaymentOptions> options, TimeProvider time, CancellationToken cancellationToken)
    {
        var userId = http.User.UserId();
        var now = time.GetUtcNow();
        var deadline = now.AddMinutes(options.Value.DeadlineMinutes);
        Started started;
        await using (var connection = await db.OpenConnectionAsync(cancellationToken))
        {
            var found = await StartAsync(connection, holdId, userId, gateway.Provider, request?.PaymentMethod, now, deadline, cancellationToken);
            if (found is null)
            {
                return Problems.NotFound("Hold");
            }

            started = found;
        }

        if (started.BookingId is null)
        {
            if (started.ExistingBookingId is { } existing)
            {
                return Problems.Conflict(started.ExistingStatus == "pending_payment" ? "Already checking out." : "Hold already booked.",
                    started.ExistingStatus == "pending_payment" ? $"Booking {existing} awaits payment: POST /bookings/{existing}/payments." : $"Hold {holdId} is booking {existing}.",
                    new Dictionary<string, object?> { ["booking_id"] = existing });
            }

            var status = started.Status == "active" ? "expired" : started.Status;
            return Problems.Conflict("Hold no longer live.", $"Hold {holdId} is {status}; hold the seats again.", new Dictionary<string, object?> { ["hold_status"] = status });
        }

        var bookingId = started.BookingId.Value;
        var (problem, read) = await Checkout.RunAttemptAsync(db, gateway, payments, bookingId, started.AttemptId!.Value, started.Key!, started.TotalMinor, started.Currency,
            request?.PaymentMethod, deadline, time, cancellationToken);
        await using (read)
        {
            if (problem is not null)
            {
                return problem;
            }

            var booking = await GetBooking.LoadAsync(read, bookingId, userId, cancellationToken);
            return TypedResults.Created($"/bookings/{bookingId}", booking!);
        }
    }

    private static async Task<Started?> StartAsync(
        NpgsqlConnection connection, long holdId, long userId, string provider, string? paymentMethod, DateTimeOffset now, DateTimeOffset deadline, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(StartSql, connection)
            .With("hold_id", holdId).With("user_id", userId).With("provider", provider).With("payment_method", paymentMethod)
            .With("nonce", Guid.NewGuid().ToString("N")).With("now", now).With("deadline", deadline);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? new Started(reader.Get<string>("status"), reader.Get<string>("currency"), reader.Get<long>("total_minor"), reader.Get<long?>("existing_booking_id"),
                reader.Get<string?>("existing_status"), reader.Get<long?>("booking_id"), reader.Get<long?>("payment_attempt_id"), reader.Get<string?>("idempotency_key"))
            : null;
    }

    // One statement, so one implicit transaction and one round trip. The row lock serializes this
    // checkout with a release, an expiry or another checkout of the hold; the writes happen only for
    // a hold that is active, unexpired and not checked out (a concurrent checkout that committed
    // first is refused by booking_hold_uq). The hold is handed over to the checkout (the inventory's
    // CTEs): it now lasts until the payment deadline, so paying in time always finds the seats, and
    // only the deadline job ends it. The attempt's key is new per attempt (never the booking id:
    // alf.io #1254), and everything its PaymentIntent is created with is stored before the call.
    private static readonly string StartSql = $$"""
        with locked as (
          select h.hold_id, h.status, h.expires_at, h.show_id, h.currency, h.total_minor, b.booking_id as existing_booking_id, b.status as existing_status
          from hold h
          left join booking b on b.hold_id = h.hold_id
          where h.hold_id = @hold_id and h.app_user_id = @user_id
          for update of h
        ), new_booking as (
          insert into booking (hold_id, show_id, app_user_id, status, currency, total_minor, payment_provider, created_at, payment_deadline)
          select hold_id, show_id, @user_id, 'pending_payment', currency, total_minor, @provider, @now, @deadline
          from locked
          where status = 'active' and expires_at > @now and existing_booking_id is null
          returning booking_id, hold_id, currency, total_minor
        ), {{SeatInventory.HandOverToCheckoutCtes<PaymentDeadlineArgs>("select hold_id, booking_id from new_booking")}}, audited as (
          insert into audit_log (occurred_at, actor_user_id, action, entity, entity_id, before, after)
          select @now, @user_id, 'booking.created', 'booking', booking_id, jsonb_build_object('hold_id', hold_id),
                 jsonb_build_object('status', 'pending_payment', 'total_minor', total_minor, 'currency', currency, 'payment_deadline', @deadline)
          from new_booking
        ), attempt as (
          insert into payment_attempt (booking_id, provider, idempotency_key, amount_minor, currency, payment_method, created_at, updated_at)
          select booking_id, @provider, 'booking-' || booking_id || '-' || @nonce, total_minor, currency, @payment_method, @now, @now
          from new_booking
          returning payment_attempt_id, idempotency_key
        )
        select l.status, l.currency, l.total_minor, l.existing_booking_id, l.existing_status,
               (select booking_id from new_booking) as booking_id,
               (select payment_attempt_id from attempt) as payment_attempt_id,
               (select idempotency_key from attempt) as idempotency_key
        from locked l
        """;
}

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
/// Connections one request opens, one after another, never two at once (counted for issue 13):
/// <list type="number">
/// <item>the checkout transaction: lock the hold, create the booking and its payment attempt, hand
/// the hold over, queue the deadline job. It commits before the provider is called: a connection
/// (and row locks) held across an HTTP call to Stripe would let provider latency exhaust the pool
/// and stall every hold on the show.</item>
/// <item>recording the provider's answer on the attempt (autocommit): durable on its own, so a
/// crash before processing still leaves the PaymentIntent id for reconciliation (GUIDE §7).</item>
/// <item>processing a success (<see cref="PaymentProcessing.SucceededAsync"/>): the booking's own
/// transaction, the same one a webhook or the deadline job runs, so all confirm alike and once.</item>
/// <item>reading the booking back for the response.</item>
/// </list>
/// Each is taken from the pool and returned before the next; 2–4 could share one physical
/// connection, at the cost of passing it through <see cref="PaymentProcessing"/>'s public API,
/// which webhooks and jobs call with none; a pool rent sends nothing to the server (Npgsql resets
/// a returned connection lazily, with the next command), so it was left as it is. A decline or an
/// unreachable provider stops after 2.
/// </remarks>
public sealed class BookHold : ICarterModule
{
    /// <summary>Optional: a payment method to confirm with at once (Stripe test ids such as <c>pm_card_visa</c>; see <see cref="FakePaymentGateway"/>).</summary>
    public sealed record Request(string? PaymentMethod);

    private sealed record HoldRow(string Status, DateTime ExpiresAt, long ShowId, string Currency, long TotalMinor, long? BookingId, string? BookingStatus);

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
        IPaymentGateway gateway, PaymentProcessing payments, JobOutbox outbox, IOptions<PaymentOptions> options, TimeProvider time, CancellationToken cancellationToken)
    {
        var userId = http.User.UserId();
        var now = time.GetUtcNow();
        var deadline = now.AddMinutes(options.Value.DeadlineMinutes);
        long bookingId, attemptId;
        string key;
        HoldRow hold;
        await using (var connection = await db.OpenConnectionAsync(cancellationToken))
        await using (var transaction = await connection.BeginTransactionAsync(cancellationToken))
        {
            var locked = await LockHoldAsync(connection, holdId, userId, cancellationToken);
            if (locked is null)
            {
                return Problems.NotFound("Hold");
            }

            hold = locked;
            if (hold.BookingId is { } existing)
            {
                return Problems.Conflict(hold.BookingStatus == "pending_payment" ? "Already checking out." : "Hold already booked.",
                    hold.BookingStatus == "pending_payment" ? $"Booking {existing} awaits payment: POST /bookings/{existing}/payments." : $"Hold {holdId} is booking {existing}.",
                    new Dictionary<string, object?> { ["booking_id"] = existing });
            }

            if (hold.Status != "active" || hold.ExpiresAt <= now.UtcDateTime)
            {
                var status = hold.Status == "active" ? "expired" : hold.Status;
                return Problems.Conflict("Hold no longer live.", $"Hold {holdId} is {status}; hold the seats again.", new Dictionary<string, object?> { ["hold_status"] = status });
            }

            await using (var create = new NpgsqlCommand(CreateBookingSql, connection))
            {
                create.With("hold_id", holdId);
                create.With("user_id", userId);
                create.With("show_id", hold.ShowId);
                create.With("currency", hold.Currency);
                create.With("total_minor", hold.TotalMinor);
                create.With("provider", gateway.Provider);
                create.With("now", now);
                create.With("deadline", deadline);
                bookingId = (long)(await create.ExecuteScalarAsync(cancellationToken))!;
            }

            (attemptId, key) = await Checkout.CreateAttemptAsync(connection, bookingId, gateway.Provider, hold.TotalMinor, hold.Currency, request?.PaymentMethod, now, cancellationToken);
            await outbox.EnqueueAsync(connection, new PaymentDeadlineArgs(bookingId), cancellationToken, runAt: deadline);
            await transaction.CommitAsync(cancellationToken);
        }

        var problem = await Checkout.RunAttemptAsync(db, gateway, payments, bookingId, attemptId, key, hold.TotalMinor, hold.Currency,
            request?.PaymentMethod, deadline, time, cancellationToken);
        if (problem is not null)
        {
            return problem;
        }

        await using var read = await db.OpenConnectionAsync(cancellationToken);
        var booking = await GetBooking.LoadAsync(read, bookingId, userId, cancellationToken);
        return TypedResults.Created($"/bookings/{bookingId}", booking!);
    }

    private static async Task<HoldRow?> LockHoldAsync(NpgsqlConnection connection, long holdId, long userId, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(LockHoldSql, connection);
        command.With("hold_id", holdId);
        command.With("user_id", userId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? new HoldRow(reader.Get<string>("status"), reader.Get<DateTime>("expires_at"), reader.Get<long>("show_id"), reader.Get<string>("currency"),
                reader.Get<long>("total_minor"), reader.Get<long?>("booking_id"), reader.Get<string?>("booking_status"))
            : null;
    }

    // The row lock serializes this checkout with a release, an expiry or another checkout of the hold.
    private const string LockHoldSql = """
        select h.status, h.expires_at, h.show_id, h.currency, h.total_minor, b.booking_id, b.status as booking_status
        from hold h
        left join booking b on b.hold_id = h.hold_id
        where h.hold_id = @hold_id and h.app_user_id = @user_id
        for update of h
        """;

    // The hold is handed over to the checkout (the inventory's CTEs): it now lasts until the payment
    // deadline, so paying in time always finds the seats, and only the deadline job ends it.
    private static readonly string CreateBookingSql = $$"""
        with new_booking as (
          insert into booking (hold_id, show_id, app_user_id, status, currency, total_minor, payment_provider, created_at, payment_deadline)
          values (@hold_id, @show_id, @user_id, 'pending_payment', @currency, @total_minor, @provider, @now, @deadline)
          returning booking_id
        ), {{SeatInventory.HandOverToCheckoutCtes}}, audited as (
          insert into audit_log (occurred_at, actor_user_id, action, entity, entity_id, before, after)
          select @now, @user_id, 'booking.created', 'booking', booking_id, jsonb_build_object('hold_id', @hold_id),
                 jsonb_build_object('status', 'pending_payment', 'total_minor', @total_minor, 'currency', @currency, 'payment_deadline', @deadline)
          from new_booking
        )
        select booking_id from new_booking
        """;
}

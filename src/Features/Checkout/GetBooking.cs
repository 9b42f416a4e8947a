using Carter;
using Holdfast.Features.Catalogue;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace Holdfast.Features.Checkout;

/// <summary><c>GET /bookings/{id}</c>: the owner's booking with its show and seats.</summary>
public sealed class GetBooking : ICarterModule
{
    /// <summary>A seat of the booking.</summary>
    /// <param name="SeatId">The seat id.</param>
    /// <param name="Label">E.g. <c>12A</c>.</param>
    /// <param name="Category">E.g. <c>economy</c>.</param>
    /// <param name="PriceMinor">Price, in minor units of the booking's currency.</param>
    /// <param name="Active">False once this seat was cancelled (and given back).</param>
    public sealed record BookedSeat(long SeatId, string Label, string Category, long PriceMinor, bool Active);

    /// <summary>A refund of (part of) the booking.</summary>
    /// <param name="RefundId">The refund.</param>
    /// <param name="AmountMinor">Minor units of the booking's currency.</param>
    /// <param name="Reason">requested_by_customer, show_cancelled, seats_unavailable or duplicate.</param>
    /// <param name="Status">pending (the job is at it), succeeded or failed.</param>
    /// <param name="CreatedAt">UTC.</param>
    public sealed record Refund(long RefundId, long AmountMinor, string Reason, string Status, DateTimeOffset CreatedAt);

    /// <summary>The latest payment attempt.</summary>
    /// <param name="PaymentIntentId">The provider's id (<c>pi_…</c>).</param>
    /// <param name="ClientSecret">For Stripe.js to confirm in the browser; only shown to the booking's customer.</param>
    /// <param name="Status">Stripe's PaymentIntent status, or <c>failed</c> when the provider was unreachable.</param>
    /// <param name="LastError">Why the last try failed.</param>
    public sealed record Payment(string? PaymentIntentId, string? ClientSecret, string Status, string? LastError);

    /// <summary>A booking.</summary>
    /// <param name="BookingId">The booking id.</param>
    /// <param name="Status">pending_payment, confirmed, cancelled, expired or refunded.</param>
    /// <param name="HoldId">The hold it was made from.</param>
    /// <param name="ShowId">The show.</param>
    /// <param name="Title">The event's title, e.g. a flight number and route.</param>
    /// <param name="StartsAt">Show start (departure), UTC.</param>
    /// <param name="LocalStartsAt">Show start in <paramref name="TimeZone"/>, with that zone's offset.</param>
    /// <param name="TimeZone">IANA zone the show is sold in.</param>
    /// <param name="Currency">ISO 4217 code.</param>
    /// <param name="TotalMinor">Total paid, in minor units.</param>
    /// <param name="PaymentProvider">fake or stripe.</param>
    /// <param name="PaymentReference">The provider's payment id.</param>
    /// <param name="CreatedAt">UTC.</param>
    /// <param name="ConfirmedAt">UTC, when paid.</param>
    /// <param name="Seats">The seats, in seat-id order (the held ones while payment is pending).</param>
    /// <param name="PaymentDeadline">UTC instant an unpaid booking is cancelled and its seats released.</param>
    /// <param name="PaidMinor">Amount paid, minor units.</param>
    /// <param name="RefundedMinor">Amount refunded or being refunded, minor units.</param>
    /// <param name="Payment">The latest payment attempt, if any.</param>
    /// <param name="Refunds">Refunds of this booking and where each stands.</param>
    public sealed record Response(
        long BookingId, string Status, long HoldId, long ShowId, string Title, DateTimeOffset StartsAt, DateTimeOffset LocalStartsAt, string TimeZone,
        string Currency, long TotalMinor, string PaymentProvider, string? PaymentReference, DateTimeOffset CreatedAt, DateTimeOffset? ConfirmedAt,
        IReadOnlyList<BookedSeat> Seats, DateTimeOffset? PaymentDeadline, long PaidMinor, long RefundedMinor, Payment? Payment, IReadOnlyList<Refund> Refunds);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app) =>
        app.MapGet("/bookings/{bookingId:long}", HandleAsync)
            .RequireAuthorization()
            .WithTags("Bookings")
            .WithSummary("Get a booking")
            .WithDescription("For its customer, the organizer owning the show's venue or event, and admins; 404 for anyone else.");

    internal static async Task<Results<Ok<Response>, ProblemHttpResult>> HandleAsync(
        long bookingId, HttpContext http, NpgsqlDataSource db, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        var booking = await LoadAsync(connection, bookingId, http.User.UserId(), cancellationToken, http.User.IsAdmin());
        return booking is null ? Problems.NotFound("Booking") : TypedResults.Ok(booking);
    }

    /// <summary>
    /// Reads a booking if <paramref name="userId"/> may see it: its customer, the organizer who owns
    /// the show's venue or event, or (with <paramref name="isAdmin"/>) any admin; null otherwise.
    /// </summary>
    internal static async Task<Response?> LoadAsync(NpgsqlConnection connection, long bookingId, long userId, CancellationToken cancellationToken, bool isAdmin = false)
    {
        // One round trip: the booking, then its refunds (used only if the booking was visible).
        await using var batch = new NpgsqlBatch(connection)
        {
            BatchCommands =
            {
                new NpgsqlBatchCommand(BookingSql).With("booking_id", bookingId).With("user_id", userId).With("is_admin", isAdmin),
                new NpgsqlBatchCommand(RefundsSql).With("booking_id", bookingId),
            },
        };
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        Response? booking = null;
        var seats = new List<BookedSeat>();
        var refunds = new List<Refund>();
        while (await reader.ReadAsync(cancellationToken))
        {
            booking ??= new Response(
                reader.Get<long>("booking_id"), reader.Get<string>("status"), reader.Get<long>("hold_id"), reader.Get<long>("show_id"), reader.Get<string>("title"),
                reader.Get<DateTimeOffset>("starts_at"), LocalTime.WithOffset(reader.Get<DateTime>("starts_at"), reader.Get<DateTime>("local_starts_at")),
                reader.Get<string>("time_zone"), reader.Get<string>("currency"), reader.Get<long>("total_minor"),
                reader.Get<string>("payment_provider"), reader.Get<string?>("payment_reference"), reader.Get<DateTimeOffset>("created_at"),
                reader.Get<DateTimeOffset?>("confirmed_at"), seats,
                reader.Get<DateTimeOffset?>("payment_deadline"), reader.Get<long>("paid_minor"), reader.Get<long>("refunded_minor"),
                reader.Get<string?>("payment_status") is { } paymentStatus
                    ? new Payment(reader.Get<string?>("provider_payment_id"), reader.Get<long>("app_user_id") == userId ? reader.Get<string?>("client_secret") : null,
                        paymentStatus, reader.Get<string?>("last_error"))
                    : null,
                refunds);
            seats.Add(new BookedSeat(reader.Get<long>("seat_id"), reader.Get<string>("label"), reader.Get<string>("category"), reader.Get<long>("price_minor"), reader.Get<bool>("active")));
        }

        if (booking is not null && await reader.NextResultAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                refunds.Add(new Refund(reader.Get<long>("refund_id"), reader.Get<long>("amount_minor"), reader.Get<string>("reason"), reader.Get<string>("status"),
                    reader.Get<DateTimeOffset>("created_at")));
            }
        }

        return booking;
    }

    private const string RefundsSql = "select refund_id, amount_minor, reason, status, created_at from refund where booking_id = @booking_id order by refund_id";

    private const string BookingSql = $$"""
        select b.booking_id, b.status, b.hold_id, b.show_id, e.title, s.starts_at,
               s.starts_at at time zone s.time_zone as local_starts_at,
               s.time_zone, b.currency, b.total_minor, b.payment_provider, b.payment_reference, b.created_at, b.confirmed_at,
               seats.seat_id, seats.label, seats.category, seats.price_minor, seats.active,
               b.payment_deadline, b.paid_minor, b.refunded_minor,
               a.provider_payment_id, a.client_secret, a.status as payment_status, b.app_user_id, a.last_error
        from booking b
        join show s on s.show_id = b.show_id
        join event e on e.event_id = s.event_id
        join venue v on v.venue_id = s.venue_id
        left join lateral (
          select provider_payment_id, client_secret, status, last_error from payment_attempt
          where booking_id = b.booking_id order by payment_attempt_id desc limit 1
        ) a on true
        -- Sold seats once there are any; until then, the seats the hold keeps for the booking.
        cross join lateral (
          select bs.seat_id, se.label, bs.category, bs.price_minor, bs.active
          from booking_seat bs join seat se on se.seat_id = bs.seat_id where bs.booking_id = b.booking_id
          union all
          select hs.seat_id, se.label, hs.category, hs.price_minor, true
          from hold_seat hs join seat se on se.seat_id = hs.seat_id
          where hs.hold_id = b.hold_id and not exists (select 1 from booking_seat x where x.booking_id = b.booking_id)
        ) seats
        where b.booking_id = @booking_id
          and (b.app_user_id = @user_id or {{ShowOwnership.Condition}})
        order by seats.seat_id
        """;
}

using Carter;
using Holdfast.Features.Inventory;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace Holdfast.Features.Holds;

/// <summary>
/// <c>GET /holds/{id}</c>: the customer's own hold, where <c>POST /shows/{id}/holds</c>'s
/// <c>Location</c> points: its state, its seats with their locked prices, and its booking once
/// checkout began. Anyone else gets 404, as for a hold that does not exist.
/// </summary>
public sealed class GetHold : ICarterModule
{
    /// <summary>A hold.</summary>
    /// <param name="HoldId">The hold id.</param>
    /// <param name="ShowId">The show.</param>
    /// <param name="Status"><c>active</c> (seats held until <paramref name="ExpiresAt"/>), <c>booked</c> (checkout began: see
    /// <paramref name="BookingId"/>), <c>released</c> or <c>expired</c>. A hold past its expiry is <c>expired</c> even before
    /// the expiry job has run: its seats are free to others from that instant.</param>
    /// <param name="ExpiresAt">UTC instant the seats are released unless booked.</param>
    /// <param name="EndedAt">UTC instant it was released, expired or booked; null while active.</param>
    /// <param name="Currency">ISO 4217 code.</param>
    /// <param name="TotalMinor">Sum of the seats' locked prices, in minor units.</param>
    /// <param name="BookingId">The booking made from it, if any.</param>
    /// <param name="Seats">The seats, in seat-id order.</param>
    public sealed record Response(long HoldId, long ShowId, string Status, DateTimeOffset ExpiresAt, DateTimeOffset? EndedAt, string Currency,
        long TotalMinor, long? BookingId, IReadOnlyList<HoldSeats.HeldSeat> Seats);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app) =>
        app.MapGet("/holds/{holdId:long}", HandleAsync)
            .RequireAuthorization()
            .WithTags("Holds")
            .WithSummary("Get one of my holds")
            .WithDescription("For the customer who took it; 404 for anyone else.");

    internal static async Task<Results<Ok<Response>, ProblemHttpResult>> HandleAsync(
        long holdId, HttpContext http, NpgsqlDataSource db, TimeProvider time, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand(HoldSql);
        command.With("hold_id", holdId);
        command.With("user_id", http.User.UserId());
        command.With("now", time.GetUtcNow());
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        Response? hold = null;
        var seats = new List<HoldSeats.HeldSeat>();
        while (await reader.ReadAsync(cancellationToken))
        {
            hold ??= new Response(reader.Get<long>("hold_id"), reader.Get<long>("show_id"), reader.Get<string>("status"), reader.Get<DateTimeOffset>("expires_at"),
                reader.Get<DateTimeOffset?>("ended_at"), reader.Get<string>("currency"), reader.Get<long>("total_minor"), reader.Get<long?>("booking_id"), seats);
            seats.Add(new HoldSeats.HeldSeat(reader.Get<long>("seat_id"), reader.Get<string>("label"), reader.Get<string>("category"), reader.Get<long>("price_minor")));
        }

        return hold is null ? Problems.NotFound("Hold") : TypedResults.Ok(hold);
    }

    // One row per seat; the hold's own columns repeat. Owner only: another customer's hold reads as missing.
    private const string HoldSql = $"""
        select h.hold_id, h.show_id,
               {SeatInventory.HoldStatusSql} as status,
               h.expires_at, h.ended_at, h.currency::text as currency, h.total_minor,
               (select b.booking_id from booking b where b.hold_id = h.hold_id) as booking_id,
               hs.seat_id, s.label, hs.category, hs.price_minor
        from hold h
        join hold_seat hs on hs.hold_id = h.hold_id
        join seat s on s.seat_id = hs.seat_id
        where h.hold_id = @hold_id and h.app_user_id = @user_id
        order by hs.seat_id
        """;
}

using Carter;
using Holdfast.Features.Inventory;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Http;
using Holdfast.Infrastructure.SeatFeed;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace Holdfast.Features.Holds;

/// <summary>
/// <c>DELETE /holds/{id}</c>: the customer gives the seats back, through
/// <see cref="SeatInventory.ReleaseAsync"/> (one round trip, decision 0008).
/// </summary>
public sealed class ReleaseHold : ICarterModule
{
    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app) =>
        app.MapDelete("/holds/{holdId:long}", HandleAsync)
            .DeclaresProblem(StatusCodes.Status409Conflict, "The hold already ended (`hold_status`), or a booking is paying for its seats.")
            .RequireAuthorization()
            .WithTags("Holds")
            .WithSummary("Release a hold")
            .WithDescription("204 when released; 404 when no such hold is yours (admins may release any); 409 when it already ended " +
                             "or a checkout of it awaits payment.");

    internal static async Task<Results<NoContent, ProblemHttpResult>> HandleAsync(
        long holdId, HttpContext http, NpgsqlDataSource db, SeatFeedAnnouncer announcer, TimeProvider time, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        // Admins may release anyone's hold (e.g. for a customer on the phone); everyone else only their own.
        var result = await SeatInventory.ReleaseAsync(SeatTransaction.Autocommit(connection, announcer), holdId, http.User.UserId(), http.User.IsAdmin(),
            time.GetUtcNow(), cancellationToken);
        if (result.ReleasedFromShowId is not null)
        {
            return TypedResults.NoContent();
        }

        if (result.HoldStatus is not { } status)
        {
            return Problems.NotFound("Hold");
        }

        if (result.PayingBookingId is { } bookingId)
        {
            return Problems.Conflict("Checkout in progress.", $"Booking {bookingId} is paying for these seats; pay, or let its deadline pass.",
                new Dictionary<string, object?> { ["booking_id"] = bookingId });
        }

        return Problems.Conflict("Hold already ended.", $"Hold {holdId} is {status}.", new Dictionary<string, object?> { ["hold_status"] = status });
    }
}

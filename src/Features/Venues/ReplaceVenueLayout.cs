using Carter;
using Holdfast.Features.Inventory;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace Holdfast.Features.Venues;

/// <summary>
/// <c>PUT /venues/{id}/layout</c>: replaces a venue's seat map, and the seat inventory of its
/// upcoming shows with it. Refused with 409 once any show on the venue has had a hold: seats that
/// were held or sold must keep their identity.
/// </summary>
public sealed class ReplaceVenueLayout : ICarterModule
{
    /// <summary>The new layout.</summary>
    public sealed record Request(SeatLayout.Layout? Layout);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app) =>
        app.MapPut("/venues/{venueId:long}/layout", HandleAsync)
            .DeclaresProblem(StatusCodes.Status409Conflict, "A show on this venue has holds or bookings, so its seats cannot change.")
            .AcceptsBodyUpTo(256 * 1024) // a seat layout; compact, but a large venue has many sections
            .RequireAuthorization(Roles.Organizer)
            .WithTags("Venues")
            .WithSummary("Replace a venue's seat map")
            .WithDescription("The owning organizer or an admin. 204; 400 for an invalid layout; 404 when not yours; " +
                             "409 once a show on this venue has holds or bookings.");

    internal static async Task<Results<NoContent, ValidationProblem, ProblemHttpResult>> HandleAsync(
        long venueId, Request request, HttpContext http, NpgsqlDataSource db, TimeProvider time, CancellationToken cancellationToken)
    {
        var validation = new Validation();
        var seats = SeatLayout.Expand(request.Layout, validation);
        if (!validation.IsValid)
        {
            return validation.Problem();
        }

        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        long seatsBefore;
        await using (var check = new NpgsqlCommand(LockSql, connection))
        {
            check.With("venue_id", venueId);
            check.With("user_id", http.User.UserId());
            check.With("is_admin", http.User.IsAdmin());
            await using var reader = await check.ExecuteReaderAsync(cancellationToken);
            if (!await reader.ReadAsync(cancellationToken))
            {
                return Problems.NotFound("Venue");
            }

            if (reader.Get<bool>("in_use"))
            {
                return InUse();
            }

            seatsBefore = reader.Get<long>("seats");
        }

        try
        {
            await SeatInventory.ReplaceVenueSeatsAsync(connection, venueId, seats, cancellationToken);
            await AuditLog.RecordAsync(connection, http.User.UserId(), "venue.layout_replaced", "venue", venueId,
                new { SeatCount = seatsBefore }, new { SeatCount = seats.Count, Layout = request.Layout }, time.GetUtcNow(), cancellationToken);
            await Holdfast.Infrastructure.Caching.ReadCache.NotifyCatalogueChangedAsync(connection, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            return TypedResults.NoContent();
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.ForeignKeyViolation)
        {
            // A hold committed on one of the venue's shows after the check above: its seats are now in use.
            return InUse();
        }
    }

    private static ProblemHttpResult InUse() =>
        Problems.Conflict("Seat map in use.", "A show on this venue has holds or bookings, so its seats cannot change. Create a new venue instead.");

    // The venue row lock serializes layout edits; "in use" is any hold, live or ended, on any of its shows.
    private const string LockSql = """
        select exists (select 1 from hold h join show s on s.show_id = h.show_id where s.venue_id = v.venue_id) as in_use,
               (select count(*) from seat where venue_id = v.venue_id) as seats
        from venue v
        where v.venue_id = @venue_id and (v.owner_app_user_id = @user_id or @is_admin)
        for update of v
        """;
}

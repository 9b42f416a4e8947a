using Carter;
using Holdfast.Features.Inventory;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace Holdfast.Features.Venues;

/// <summary>
/// <c>POST /venues</c>: an organizer (or an admin, for any organizer) creates a venue with a seat
/// map expanded from a compact <see cref="SeatLayout.Layout"/>.
/// </summary>
public sealed class CreateVenue : ICarterModule
{
    /// <summary>The venue: a name, its kind, the city a hall stands in, and its layout.</summary>
    /// <param name="Name">1–100 characters, unique per owner.</param>
    /// <param name="Kind">cinema_hall, coach or aircraft_cabin.</param>
    /// <param name="CityId">Required for a cinema hall (its shows take the city's time zone).</param>
    /// <param name="OwnerUserId">Admins only: the organizer who will own it; defaults to the caller.</param>
    /// <param name="Layout">The seat map, see <see cref="SeatLayout"/>.</param>
    /// <param name="VenueGroupId">A group of the owner's (<c>POST /venue-groups</c>) the venue belongs to, e.g. the cinema of a hall.</param>
    public sealed record Request(string? Name, string? Kind, long? CityId, long? OwnerUserId, SeatLayout.Layout? Layout, long? VenueGroupId = null);

    /// <summary>The created venue.</summary>
    /// <param name="VenueId">The venue id.</param>
    /// <param name="SeatCount">Seats in the map.</param>
    /// <param name="Categories">Seats per category.</param>
    public sealed record Response(long VenueId, int SeatCount, IReadOnlyDictionary<string, int> Categories);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app) =>
        app.MapPost("/venues", HandleAsync)
            .DeclaresProblem(StatusCodes.Status409Conflict, "This owner already has a venue with that name.")
            .AcceptsBodyUpTo(256 * 1024) // a seat layout; compact, but a large venue has many sections
            .RequireAuthorization(Roles.Organizer)
            .WithTags("Venues")
            .WithSummary("Create a venue with its seat map")
            .WithDescription("Organizers and admins. 400 names each invalid field of the layout; 409 when the owner already has a venue of that name.");

    internal static async Task<Results<Created<Response>, ValidationProblem, ProblemHttpResult>> HandleAsync(
        Request request, HttpContext http, NpgsqlDataSource db, TimeProvider time, CancellationToken cancellationToken)
    {
        var validation = new Validation()
            .Require(request.Name is { Length: >= 1 and <= 100 }, "name", "Required: 1 to 100 characters.")
            .Require(request.Kind is "cinema_hall" or "coach" or "aircraft_cabin", "kind", "Must be cinema_hall, coach or aircraft_cabin.")
            .Require(request.Kind != "cinema_hall" || request.CityId is not null, "city_id", "Required for a cinema hall.")
            .Require(request.OwnerUserId is null || http.User.IsAdmin(), "owner_user_id", "Only admins create venues for someone else.");
        var seats = SeatLayout.Expand(request.Layout, validation);
        if (!validation.IsValid)
        {
            return validation.Problem();
        }

        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        try
        {
            var ownerId = request.OwnerUserId ?? http.User.UserId();
            var venueId = await InsertAsync(connection, request, ownerId, seats, cancellationToken);
            var response = new Response(venueId, seats.Count, seats.GroupBy(s => s.Category).ToDictionary(g => g.Key, g => g.Count()));
            await AuditLog.RecordAsync(connection, http.User.UserId(), "venue.created", "venue", venueId, null,
                new { request.Name, request.Kind, request.CityId, OwnerUserId = ownerId, request.VenueGroupId, response.SeatCount, response.Categories }, time.GetUtcNow(), cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            return TypedResults.Created($"/venues/{venueId}", response);
        }
        catch (PostgresException ex) when (ex.ProblemFor(
            new OnConstraint("venue_name_owner_uq", () => Problems.Conflict("Venue name taken.", "This owner already has a venue with that name.")),
            new OnConstraint("venue_city_fk", () => Problems.Field("city_id", "No such record.")),
            new OnConstraint("venue_owner_fk", () => Problems.Field("owner_user_id", "No such record.")),
            new OnConstraint("venue_group_same_owner_fk", () => Problems.Field("venue_group_id", "No such group of this venue's owner."))) is { } problem)
        {
            return problem;
        }
    }

    private static async Task<long> InsertAsync(NpgsqlConnection connection, Request request, long ownerId, List<SeatSpec> seats, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(InsertSql, connection);
        command.With("name", request.Name!);
        command.With("kind", request.Kind!);
        command.With("city_id", request.CityId);
        command.With("owner_id", ownerId);
        command.With("group", request.VenueGroupId);
        var venueId = (long)(await command.ExecuteScalarAsync(cancellationToken))!;
        await SeatInventory.WriteVenueSeatsAsync(connection, venueId, seats, cancellationToken);
        return venueId;
    }

    // The venue; its seats are written by the inventory next, in the same transaction.
    private const string InsertSql = """
        insert into venue (name, kind, city_id, owner_app_user_id, venue_group_id)
        values (@name, @kind, @city_id, @owner_id, @group)
        returning venue_id
        """;
}

using Carter;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace Holdfast.Features.Venues;

/// <summary><c>GET /venues/{id}</c>: a venue and its seat map (without any show's states).</summary>
public sealed class GetVenue : ICarterModule
{
    /// <summary>A venue and its seats. PostgreSQL writes the JSON (see <c>VenueSql</c>); this record is its documented shape.</summary>
    /// <param name="VenueId">The venue.</param>
    /// <param name="Name">Its name, unique per owner.</param>
    /// <param name="Kind"><c>cinema_hall</c>, <c>coach</c> or <c>aircraft_cabin</c>.</param>
    /// <param name="CityId">Its city; null for a coach or a cabin, which travel.</param>
    /// <param name="OwnerUserId">The organizer who owns it; null for a shared venue.</param>
    /// <param name="Seats">Every seat, front to back, left to right.</param>
    /// <param name="VenueGroupId">The group it belongs to (a cinema, a fleet), if any.</param>
    /// <param name="ArchivedAt">UTC instant it was archived (it takes no new show); null otherwise.</param>
    public sealed record Response(long VenueId, string Name, string Kind, long? CityId, long? OwnerUserId, IReadOnlyList<Seat> Seats, long? VenueGroupId, DateTimeOffset? ArchivedAt);

    /// <summary>A seat of the layout.</summary>
    /// <param name="SeatId">The seat id.</param>
    /// <param name="Label">What the customer reads, e.g. <c>12A</c>.</param>
    /// <param name="Section">Section, e.g. <c>Stalls</c>.</param>
    /// <param name="Row">Row label.</param>
    /// <param name="Number">Seat number in its row.</param>
    /// <param name="Category">Seat category, e.g. <c>economy</c>.</param>
    /// <param name="X">Drawing column, in seat widths.</param>
    /// <param name="Y">Drawing row, in seat widths.</param>
    /// <param name="Access"><c>wheelchair</c>, <c>companion</c>, or null.</param>
    /// <param name="Blocked">New shows on this venue start with the seat blocked.</param>
    public sealed record Seat(long SeatId, string Label, string Section, string Row, int Number, string Category, int X, int Y, string? Access, bool Blocked);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app) =>
        app.MapGet("/venues/{venueId:long}", HandleAsync)
            .WithTags("Venues")
            .WithSummary("Get a venue and its seat map")
            .WithDescription("404 when there is no such venue.")
            .Produces<Response>(StatusCodes.Status200OK);

    internal static async Task<Results<ContentHttpResult, ProblemHttpResult>> HandleAsync(long venueId, NpgsqlDataSource db, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand(VenueSql);
        command.With("venue_id", venueId);
        return await command.ExecuteScalarAsync(cancellationToken) is string json
            ? TypedResults.Text(json, "application/json")
            : Problems.NotFound("Venue");
    }

    private const string VenueSql = """
        select json_build_object(
                 'venue_id', v.venue_id, 'name', v.name, 'kind', v.kind, 'city_id', v.city_id, 'owner_user_id', v.owner_app_user_id,
                 'venue_group_id', v.venue_group_id, 'archived_at', v.archived_at,
                 'seats', coalesce((select json_agg(json_build_object(
                              'seat_id', s.seat_id, 'label', s.label, 'section', s.section, 'row', s.row_label,
                              'number', s.seat_number, 'category', s.category, 'x', s.x, 'y', s.y,
                              'access', s.access, 'blocked', s.blocked) order by s.y, s.x)
                            from seat s where s.venue_id = v.venue_id), '[]'))::text
        from venue v
        where v.venue_id = @venue_id
        """;
}

using Carter;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace Holdfast.Features.Venues;

/// <summary><c>GET /venues/{id}</c>: a venue and its seat map (without any show's states).</summary>
public sealed class GetVenue : ICarterModule
{
    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app) =>
        app.MapGet("/venues/{venueId:long}", HandleAsync)
            .WithTags("Venues")
            .WithSummary("Get a venue and its seat map")
            .WithDescription("JSON: {venue_id, name, kind, city_id, owner_user_id, seats: [{seat_id, label, section, row, number, category, x, y}]}. 404 when there is no such venue.")
            .Produces(StatusCodes.Status200OK, contentType: "application/json");

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
                 'seats', coalesce((select json_agg(json_build_object(
                              'seat_id', s.seat_id, 'label', s.label, 'section', s.section, 'row', s.row_label,
                              'number', s.seat_number, 'category', s.category, 'x', s.x, 'y', s.y) order by s.y, s.x)
                            from seat s where s.venue_id = v.venue_id), '[]'))::text
        from venue v
        where v.venue_id = @venue_id
        """;
}

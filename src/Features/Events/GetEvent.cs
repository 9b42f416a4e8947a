using Carter;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace Holdfast.Features.Events;

/// <summary>
/// <c>GET /events/{id}</c>: one event (a film, a flight, a trip), where <c>POST /events</c>'s
/// <c>Location</c> points. Events are public catalogue: anyone may read them.
/// </summary>
public sealed class GetEvent : ICarterModule
{
    /// <summary>An event.</summary>
    /// <param name="EventId">The event id.</param>
    /// <param name="Kind"><c>film</c>, <c>flight</c> or <c>trip</c>.</param>
    /// <param name="Title">E.g. a film's title or a flight's route.</param>
    /// <param name="Code">Flight number or service code; null for most films.</param>
    /// <param name="OriginIata">Flights: origin airport.</param>
    /// <param name="DestinationIata">Flights: destination airport.</param>
    /// <param name="OriginCityId">Trips and flights: origin city.</param>
    /// <param name="DestinationCityId">Trips and flights: destination city.</param>
    /// <param name="DurationMinutes">A show ends this many minutes after it starts.</param>
    /// <param name="OwnerUserId">The organizer who sells it; null for the demo catalogue.</param>
    /// <param name="CreatedAt">UTC.</param>
    public sealed record Response(long EventId, string Kind, string Title, string? Code, string? OriginIata, string? DestinationIata,
        long? OriginCityId, long? DestinationCityId, int DurationMinutes, long? OwnerUserId, DateTimeOffset CreatedAt);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app) =>
        app.MapGet("/events/{eventId:long}", HandleAsync)
            .WithTags("Catalogue")
            .WithSummary("Get an event")
            .WithDescription("404 when there is no such event.");

    internal static async Task<Results<Ok<Response>, ProblemHttpResult>> HandleAsync(long eventId, NpgsqlDataSource db, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand(EventSql);
        command.With("event_id", eventId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? TypedResults.Ok(new Response(reader.Get<long>("event_id"), reader.Get<string>("kind"), reader.Get<string>("title"), reader.Get<string?>("code"),
                reader.Get<string?>("origin_iata"), reader.Get<string?>("destination_iata"), reader.Get<long?>("origin_city_id"),
                reader.Get<long?>("destination_city_id"), reader.Get<int>("duration_minutes"), reader.Get<long?>("owner_app_user_id"),
                reader.Get<DateTimeOffset>("created_at")))
            : Problems.NotFound("Event");
    }

    private const string EventSql = """
        select e.event_id, e.kind, e.title, e.code, o.iata::text as origin_iata, d.iata::text as destination_iata,
               e.origin_city_id, e.destination_city_id, e.duration_minutes, e.owner_app_user_id, e.created_at
        from event e
        left join airport o on o.airport_id = e.origin_airport_id
        left join airport d on d.airport_id = e.destination_airport_id
        where e.event_id = @event_id
        """;
}

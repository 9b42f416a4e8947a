using Carter;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace Holdfast.Features.Events;

/// <summary>
/// <c>POST /events</c>: an organizer creates what they sell: a film, a flight or a trip, active at once
/// (the default, as before statuses existed) or as a draft only its owner and admins see.
/// </summary>
public sealed class CreateEvent : ICarterModule
{
    /// <summary>The event.</summary>
    /// <param name="Kind">film, flight or trip.</param>
    /// <param name="Title">1–200 characters.</param>
    /// <param name="Code">Flight number or service code, unique per kind; optional for films.</param>
    /// <param name="OriginIata">Flights: origin airport IATA code.</param>
    /// <param name="DestinationIata">Flights: destination airport IATA code.</param>
    /// <param name="OriginCityId">Trips: origin city.</param>
    /// <param name="DestinationCityId">Trips: destination city.</param>
    /// <param name="DurationMinutes">1–2880; a show ends this long after it starts.</param>
    /// <param name="Status"><c>draft</c> (seen only by its owner and admins until made active) or <c>active</c> (the default).</param>
    /// <param name="ReleaseDate">Films: the release date; before it the film is "coming soon".</param>
    /// <param name="Description">Up to 5,000 characters of plain text.</param>
    public sealed record Request(string? Kind, string? Title, string? Code, string? OriginIata, string? DestinationIata,
        long? OriginCityId, long? DestinationCityId, int? DurationMinutes, string? Status = null, DateOnly? ReleaseDate = null, string? Description = null);

    /// <summary>The created event's id.</summary>
    public sealed record Response(long EventId);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app) =>
        app.MapPost("/events", HandleAsync)
            .RequireAuthorization(Roles.Organizer)
            .WithTags("Catalogue")
            .WithSummary("Create an event")
            .WithDescription("Organizers and admins. 400 names each invalid field (unknown airports and cities included); 409 when the code is taken.");

    internal static async Task<Results<Created<Response>, ValidationProblem, ProblemHttpResult>> HandleAsync(
        Request request, HttpContext http, NpgsqlDataSource db, TimeProvider time, CancellationToken cancellationToken)
    {
        var validation = new Validation()
            .Require(request.Kind is "film" or "flight" or "trip", "kind", "Must be film, flight or trip.")
            .Require(request.Title is { Length: >= 1 and <= 200 }, "title", "Required: 1 to 200 characters.")
            .Require(request.Code is null || request.Code.Length is >= 1 and <= 32, "code", "1 to 32 characters.")
            .Require(request.DurationMinutes is >= 1 and <= 2880, "duration_minutes", "Required: 1 to 2880.")
            .Require(request.Status is null or "draft" or "active", "status", "draft or active (the default); archive later with PATCH.")
            .Require(request.Description is null or { Length: <= 5000 }, "description", "At most 5,000 characters.")
            .Require(request.Kind != "flight" || request.OriginIata is not null, "origin_iata", "Required for a flight.")
            .Require(request.Kind != "flight" || request.DestinationIata is not null, "destination_iata", "Required for a flight.")
            .Require(request.Kind != "trip" || request.OriginCityId is not null, "origin_city_id", "Required for a trip.")
            .Require(request.Kind != "trip" || request.DestinationCityId is not null, "destination_city_id", "Required for a trip.");
        if (!validation.IsValid)
        {
            return validation.Problem();
        }

        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using var command = new NpgsqlCommand(InsertSql, connection);
        command.With("kind", request.Kind!);
        command.With("title", request.Title!);
        command.With("code", request.Code);
        command.With("origin_iata", request.OriginIata?.ToUpperInvariant());
        command.With("destination_iata", request.DestinationIata?.ToUpperInvariant());
        command.With("origin_city_id", request.OriginCityId);
        command.With("destination_city_id", request.DestinationCityId);
        command.With("duration", request.DurationMinutes!.Value);
        command.With("owner_id", http.User.UserId());
        command.With("status", request.Status ?? "active");
        command.With("release_date", request.ReleaseDate);
        command.With("description", string.IsNullOrEmpty(request.Description) ? null : request.Description);
        try
        {
            long? eventId;
            bool originKnown, destinationKnown;
            await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
            {
                await reader.ReadAsync(cancellationToken);
                (eventId, originKnown, destinationKnown) = (reader.Get<long?>("event_id"), reader.Get<bool>("origin_known"), reader.Get<bool>("destination_known"));
            }

            if (eventId is null)
            {
                var unknown = new Validation();
                unknown.Require(originKnown, request.Kind == "flight" ? "origin_iata" : "origin_city_id", "No such airport or city.");
                unknown.Require(destinationKnown, request.Kind == "flight" ? "destination_iata" : "destination_city_id", "No such airport or city.");
                return unknown.Problem();
            }

            await AuditLog.RecordAsync(connection, http.User.UserId(), "event.created", "event", eventId.Value, null, request, time.GetUtcNow(), cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            return TypedResults.Created($"/events/{eventId}", new Response(eventId.Value));
        }
        catch (PostgresException ex) when (ex.ProblemFor(
            new OnConstraint("event_code_uq", () => Problems.Conflict("Code taken.", $"Another {request.Kind} already uses code {request.Code}."))) is { } problem)
        {
            return problem;
        }
    }

    // Inserts only when every named place exists; otherwise reports which one is missing.
    private const string InsertSql = """
        with places as (
          select oa.airport_id as origin_airport_id, da.airport_id as destination_airport_id,
                 coalesce(oa.city_id, oc.city_id) as origin_city_id, coalesce(da.city_id, dc.city_id) as destination_city_id,
                 (@origin_iata::text is null or oa.airport_id is not null) and (@origin_city_id::bigint is null or oc.city_id is not null) as origin_known,
                 (@destination_iata::text is null or da.airport_id is not null) and (@destination_city_id::bigint is null or dc.city_id is not null) as destination_known
          from (select 1) one
          left join airport oa on oa.iata = @origin_iata
          left join airport da on da.iata = @destination_iata
          left join city oc on oc.city_id = @origin_city_id
          left join city dc on dc.city_id = @destination_city_id
        ), inserted as (
          insert into event (kind, title, code, origin_airport_id, destination_airport_id, origin_city_id, destination_city_id, duration_minutes, owner_app_user_id,
                             status, release_date, description)
          select @kind, @title, @code, origin_airport_id, destination_airport_id, origin_city_id, destination_city_id, @duration, @owner_id,
                 @status, @release_date, @description
          from places where origin_known and destination_known
          returning event_id
        )
        select (select event_id from inserted) as event_id, origin_known, destination_known from places
        """;
}

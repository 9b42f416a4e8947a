using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Text.Json;
using Carter;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Caching;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;
using Npgsql;
using FromQueryAttribute = Microsoft.AspNetCore.Mvc.FromQueryAttribute;

namespace Holdfast.Features.Events;

/// <summary>
/// <c>GET /events</c> (by kind, title, or only the caller's own; keyset-paged, newest first, with an
/// <c>ETag</c>) and <c>GET /events/{id}</c> (where <c>POST /events</c>'s <c>Location</c> points).
/// Events are public catalogue: anyone may read them.
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

    /// <summary>A page of events.</summary>
    /// <param name="Items">Events, newest first.</param>
    /// <param name="NextBeforeId">Pass as <c>before_id</c> for the next page; null on the last page.</param>
    public sealed record Page(IReadOnlyList<Response> Items, long? NextBeforeId);

    /// <summary>Most items per page.</summary>
    public const int MaxLimit = 200;

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app)
    {
        app.MapGet("/events/{eventId:long}", HandleAsync)
            .WithTags("Catalogue")
            .WithSummary("Get an event")
            .WithDescription("404 when there is no such event.");
        app.MapGet("/events", ListAsync)
            .WithTags("Catalogue")
            .WithSummary("List events")
            .WithDescription("`mine=true` lists the caller's own events (401 without a token).")
            .Produces<Page>(StatusCodes.Status200OK)
            .AnswersWithETag()
            .DeclaresProblem(StatusCodes.Status401Unauthorized, "`mine=true` without a valid access token.");
    }

    internal static async Task<IResult> ListAsync(
        [Description("Only events of this kind."), AllowedValues("film", "flight", "trip", null)] string? kind,
        [Description("Title or code contains this (case-insensitive)."), MaxLength(200)] string? q,
        [Description("Only the caller's own events.")] bool? mine,
        [Description("`next_before_id` of the previous page."), FromQuery(Name = "before_id")] long? beforeId,
        [Description("Items per page (default 50)."), Range(1, MaxLimit)] int? limit,
        HttpContext http, NpgsqlDataSource db, IOptions<JsonOptions> json, CancellationToken cancellationToken)
    {
        var validation = new Validation()
            .Require(kind is null or "film" or "flight" or "trip", "kind", "Must be film, flight or trip.")
            .Require(q is null or { Length: <= 200 }, "q", "At most 200 characters.")
            .Require(limit is null or (>= 1 and <= MaxLimit), "limit", $"Must be 1 to {MaxLimit}.");
        if (!validation.IsValid)
        {
            return validation.Problem();
        }

        long? owner = null;
        if (mine == true)
        {
            if (http.User.Identity?.IsAuthenticated != true)
            {
                return Problems.Unauthorized("Sign in to list your own events.");
            }

            owner = http.User.UserId();
        }

        await using var command = db.CreateCommand(ListSql);
        var size = limit ?? 50;
        command.With("kind", kind).With("like", Sql.ContainsPattern(q?.Trim())).With("owner", owner).With("before_id", beforeId ?? long.MaxValue).With("limit", size + 1);
        var items = new List<Response>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            items.Add(Read(reader));
        }

        var page = items.Count > size ? new Page(items[..size], items[size - 1].EventId) : new Page(items, null);
        return ReadCache.WriteWithETag(http, JsonSerializer.SerializeToUtf8Bytes(page, json.Value.SerializerOptions));
    }

    private static Response Read(NpgsqlDataReader reader) =>
        new(reader.Get<long>("event_id"), reader.Get<string>("kind"), reader.Get<string>("title"), reader.Get<string?>("code"),
            reader.Get<string?>("origin_iata"), reader.Get<string?>("destination_iata"), reader.Get<long?>("origin_city_id"),
            reader.Get<long?>("destination_city_id"), reader.Get<int>("duration_minutes"), reader.Get<long?>("owner_app_user_id"),
            reader.Get<DateTimeOffset>("created_at"));

    internal static async Task<Results<Ok<Response>, ProblemHttpResult>> HandleAsync(long eventId, NpgsqlDataSource db, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand(EventSql);
        command.With("event_id", eventId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? TypedResults.Ok(Read(reader))
            : Problems.NotFound("Event");
    }

    private const string Columns = """
        select e.event_id, e.kind, e.title, e.code, o.iata::text as origin_iata, d.iata::text as destination_iata,
               e.origin_city_id, e.destination_city_id, e.duration_minutes, e.owner_app_user_id, e.created_at
        from event e
        left join airport o on o.airport_id = e.origin_airport_id
        left join airport d on d.airport_id = e.destination_airport_id
        """;

    private const string EventSql = Columns + "\nwhere e.event_id = @event_id";

    private const string ListSql = Columns + """

        where e.event_id < @before_id
          and (@kind::text is null or e.kind = @kind)
          and (@like::text is null or e.title ilike @like or e.code ilike @like)
          and (@owner::bigint is null or e.owner_app_user_id = @owner)
        order by e.event_id desc
        limit @limit
        """;
}

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
/// <c>GET /events</c> (by kind, title, status, or only the caller's own; films now showing or coming
/// soon; keyset-paged, newest first, with an <c>ETag</c>) and <c>GET /events/{id}</c> (where
/// <c>POST /events</c>'s <c>Location</c> points). Active and archived events are public catalogue;
/// a draft is seen only by its owner and admins (anyone else gets 404, and lists leave it out).
/// <para>
/// <c>showing=now</c>: active events released (no release date, or one on or before today's UTC date)
/// with at least one show on sale that has not started. <c>showing=soon</c>: active events whose
/// release date is after today's UTC date, shows or not. Both are usually asked with <c>kind=film</c>.
/// </para>
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
    /// <param name="Status"><c>draft</c>, <c>active</c> or <c>archived</c>.</param>
    /// <param name="ReleaseDate">Films: the release date, if set.</param>
    /// <param name="Description">Plain text, if any.</param>
    /// <param name="PosterUrl">Where its poster is (a content-hash URL, cacheable for ever); null without one.</param>
    public sealed record Response(long EventId, string Kind, string Title, string? Code, string? OriginIata, string? DestinationIata,
        long? OriginCityId, long? DestinationCityId, int DurationMinutes, long? OwnerUserId, DateTimeOffset CreatedAt,
        string Status, DateOnly? ReleaseDate, string? Description, string? PosterUrl);

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
            .WithDescription("Active events, unless `status` says otherwise; `mine=true` lists the caller's own events of every status (401 without a token). " +
                             "Drafts are listed only for their owner and admins. `showing=now`: released and with a show on sale still to start; " +
                             "`showing=soon`: release date after today (UTC).")
            .Produces<Page>(StatusCodes.Status200OK)
            .AnswersWithETag()
            .DeclaresProblem(StatusCodes.Status401Unauthorized, "`mine=true` without a valid access token.");
    }

    internal static async Task<IResult> ListAsync(
        [Description("Only events of this kind."), AllowedValues("film", "flight", "trip", null)] string? kind,
        [Description("Title or code contains this (case-insensitive)."), MaxLength(200)] string? q,
        [Description("Only the caller's own events.")] bool? mine,
        [Description("Only events in this status (default: active, or every status with `mine=true`)."), AllowedValues("draft", "active", "archived", null)] string? status,
        [Description("Films now showing (released, with a show on sale to come) or coming soon (release date after today, UTC)."), AllowedValues("now", "soon", null)] string? showing,
        [Description("`next_before_id` of the previous page."), FromQuery(Name = "before_id")] long? beforeId,
        [Description("Items per page (default 50)."), Range(1, MaxLimit)] int? limit,
        HttpContext http, NpgsqlDataSource db, IOptions<JsonOptions> json, TimeProvider time, CancellationToken cancellationToken)
    {
        var validation = new Validation()
            .Require(kind is null or "film" or "flight" or "trip", "kind", "Must be film, flight or trip.")
            .Require(status is null or "draft" or "active" or "archived", "status", "Must be draft, active or archived.")
            .Require(showing is null or "now" or "soon", "showing", "Must be now or soon.")
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
        var now = time.GetUtcNow();
        command.With("kind", kind).With("like", Sql.ContainsPattern(q?.Trim())).With("owner", owner).With("before_id", beforeId ?? long.MaxValue).With("limit", size + 1)
            .With("status", status ?? (owner is null || showing is not null ? "active" : null)).With("showing", showing)
            .With("now", now).With("today", DateOnly.FromDateTime(now.UtcDateTime));
        Viewer(command, http);
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
            reader.Get<DateTimeOffset>("created_at"), reader.Get<string>("status"), reader.Get<DateOnly?>("release_date"), reader.Get<string?>("description"),
            reader.Get<string?>("poster_hash") is { } hash ? PosterUrl(hash) : null);

    /// <summary>The content-hash URL of a poster, from its SHA-256 in lowercase hex.</summary>
    internal static string PosterUrl(string sha256Hex) => $"/posters/{sha256Hex}";

    // @viewer (null when anonymous) and @is_admin: who may see drafts.
    private static void Viewer(NpgsqlCommand command, HttpContext http)
    {
        var signedIn = http.User.Identity?.IsAuthenticated == true;
        command.With("viewer", signedIn ? http.User.UserId() : (long?)null).With("is_admin", signedIn && http.User.IsAdmin());
    }

    internal static async Task<Results<Ok<Response>, ProblemHttpResult>> HandleAsync(long eventId, HttpContext http, NpgsqlDataSource db, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand(EventSql);
        command.With("event_id", eventId);
        Viewer(command, http);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? TypedResults.Ok(Read(reader))
            : Problems.NotFound("Event");
    }

    private const string Columns = """
        select e.event_id, e.kind, e.title, e.code, o.iata::text as origin_iata, d.iata::text as destination_iata,
               e.origin_city_id, e.destination_city_id, e.duration_minutes, e.owner_app_user_id, e.created_at,
               e.status, e.release_date, e.description, encode(e.poster_sha256, 'hex') as poster_hash
        from event e
        left join airport o on o.airport_id = e.origin_airport_id
        left join airport d on d.airport_id = e.destination_airport_id
        """;

    // A draft is visible to its owner and admins only (the list repeats the condition).
    private const string EventSql = Columns + "\nwhere e.event_id = @event_id and (e.status <> 'draft' or e.owner_app_user_id = @viewer or @is_admin)";

    // Newest first by id (keyset on event_id). showing=now asks for a show still to come on sale;
    // show_event_idx (event_id, starts_at) answers that per event.
    private const string ListSql = Columns + """

        where e.event_id < @before_id
          and (@kind::text is null or e.kind = @kind)
          and (@like::text is null or e.title ilike @like or e.code ilike @like)
          and (@owner::bigint is null or e.owner_app_user_id = @owner)
          and (@status::text is null or e.status = @status)
          and (@showing::text is null
               or (@showing = 'now' and (e.release_date is null or e.release_date <= @today)
                   and exists (select 1 from show s where s.event_id = e.event_id and s.status = 'on_sale' and s.starts_at > @now))
               or (@showing = 'soon' and e.release_date > @today))
          and (e.status <> 'draft' or e.owner_app_user_id = @viewer or @is_admin)
        order by e.event_id desc
        limit @limit
        """;
}

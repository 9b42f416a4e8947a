using System.Text.Json;
using Carter;
using Holdfast.Infrastructure.Caching;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Holdfast.Features.Shows;

/// <summary><c>GET /shows/{id}</c>: one show with its event, venue, prices and availability.</summary>
public sealed class GetShow : ICarterModule
{
    /// <summary>A seat category of the show.</summary>
    /// <param name="Category">E.g. <c>business</c>.</param>
    /// <param name="PriceMinor">Price per seat in minor units of the show's currency.</param>
    /// <param name="SeatsAvailable">Seats of this category available right now.</param>
    public sealed record CategoryAvailability(string Category, long PriceMinor, int SeatsAvailable);

    /// <summary>The show.</summary>
    /// <param name="ShowId">The show id.</param>
    /// <param name="EventId">The event.</param>
    /// <param name="Kind">film, flight or trip.</param>
    /// <param name="Title">E.g. "BA117 London → New York" or a film's title.</param>
    /// <param name="Code">Flight number or service code; null for films.</param>
    /// <param name="Origin">Origin airport IATA code or city name; null for films.</param>
    /// <param name="Destination">Destination airport IATA code or city name; null for films.</param>
    /// <param name="VenueName">The hall, coach or cabin.</param>
    /// <param name="StartsAt">Start (departure), UTC.</param>
    /// <param name="EndsAt">End (arrival), UTC.</param>
    /// <param name="LocalStartsAt">Start in <paramref name="TimeZone"/>, with that zone's offset.</param>
    /// <param name="TimeZone">IANA zone the show is sold in.</param>
    /// <param name="Status">on_sale, closed, departed, completed, cancelled or scheduled.</param>
    /// <param name="Currency">ISO 4217 code for every amount of the show.</param>
    /// <param name="Categories">Prices and availability per category, dearest first.</param>
    /// <param name="CurrencyExponent">Digits after the decimal point: 1250 minor units is 12.50 at 2, 1250 at 0 (JPY).</param>
    public sealed record Response(
        long ShowId, long EventId, string Kind, string Title, string? Code, string? Origin, string? Destination, string VenueName,
        DateTimeOffset StartsAt, DateTimeOffset EndsAt, DateTimeOffset LocalStartsAt, string TimeZone, string Status, string Currency,
        IReadOnlyList<CategoryAvailability> Categories, int CurrencyExponent);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app) =>
        app.MapGet("/shows/{showId:long}", HandleAsync)
            .WithTags("Shows")
            .WithSummary("Get a show")
            .WithDescription("404 when there is no such show. Answers carry an ETag; If-None-Match gives 304.")
            .Produces<Response>(StatusCodes.Status200OK)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .AnswersWithETag();

    internal static async Task<IResult> HandleAsync(
        long showId, HttpContext http, NpgsqlDataSource db, ReadReplica reads, ReadCache cache, IOptions<JsonOptions> json, CancellationToken cancellationToken)
    {
        // Keyed by the show's seat event number, so a customer who just held seats never sees the
        // availability from before; catalogue edits reach the entry through the cache's notification.
        var seq = await GetSeatMap.CurrentSeqAsync(db, showId, cancellationToken);
        if (seq is null)
        {
            return Problems.NotFound("Show");
        }

        var cached = await cache.GetOrAddAsync($"show:{showId}:{seq}", async ct =>
        {
            // The seat_feed row just read exists only with its show, and shows are never deleted.
            // Show details tolerate a replica, once it has caught up with the primary (ReadReplica).
            var found = await reads.ReadAsync(true, (connection, token) => LoadAsync(connection, showId, token), ct) ?? throw new InvalidOperationException($"Show {showId} has a seat feed but no row.");
            return (JsonSerializer.SerializeToUtf8Bytes(found, json.Value.SerializerOptions), [showId]);
        }, cancellationToken);
        return ReadCache.Write(http, cached);
    }

    private static async Task<Response?> LoadAsync(NpgsqlConnection connection, long showId, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(ShowSql, connection);
        command.With("show_id", showId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        Response? show = null;
        var categories = new List<CategoryAvailability>();
        while (await reader.ReadAsync(cancellationToken))
        {
            show ??= new Response(
                reader.Get<long>("show_id"), reader.Get<long>("event_id"), reader.Get<string>("kind"), reader.Get<string>("title"),
                reader.Get<string?>("code"), reader.Get<string?>("origin"), reader.Get<string?>("destination"), reader.Get<string>("venue_name"),
                reader.Get<DateTimeOffset>("starts_at"), reader.Get<DateTimeOffset>("ends_at"),
                LocalTime.WithOffset(reader.Get<DateTime>("starts_at"), reader.Get<DateTime>("local_starts_at")), reader.Get<string>("time_zone"),
                reader.Get<string>("status"), reader.Get<string>("currency"), categories, reader.Get<short>("exponent"));
            if (reader.Get<string?>("category") is { } category)
            {
                categories.Add(new CategoryAvailability(category, reader.Get<long>("amount_minor"), reader.Get<int>("seats_available")));
            }
        }

        return show;
    }

    private const string ShowSql = """
        select s.show_id, e.event_id, e.kind, e.title, e.code,
               coalesce(oa.iata, oc.name) as origin, coalesce(da.iata, dc.name) as destination, v.name as venue_name,
               s.starts_at, s.ends_at, s.starts_at at time zone s.time_zone as local_starts_at, s.time_zone, s.status, s.currency,
               p.category, p.amount_minor,
               (select count(*)::int from show_seat ss
                where ss.show_id = s.show_id and ss.category = p.category and ss.state = 'available') as seats_available,
               c.exponent
        from show s
        join currency c on c.code = s.currency
        join event e on e.event_id = s.event_id
        join venue v on v.venue_id = s.venue_id
        left join airport oa on oa.airport_id = e.origin_airport_id
        left join airport da on da.airport_id = e.destination_airport_id
        left join city oc on oc.city_id = e.origin_city_id
        left join city dc on dc.city_id = e.destination_city_id
        left join show_price p on p.show_id = s.show_id
        where s.show_id = @show_id
        order by p.amount_minor desc, p.category
        """;
}

using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Carter;
using Holdfast.Infrastructure.Caching;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;

namespace Holdfast.Features.Search;

/// <summary>
/// <c>GET /shows</c>: finds shows on sale of active events (a draft's shows wait for it to become
/// active; an archived event's shows leave search, though those sold still run). Filters combine with AND; results page by keyset with an
/// opaque cursor, so deep pages cost what the first does and a page never repeats or skips a show
/// when others are added meanwhile.
/// </summary>
public sealed class SearchShows : ICarterModule
{
    /// <summary>Most results per page.</summary>
    public const int MaxLimit = 100;

    /// <summary>Availability and price of one category of a show.</summary>
    /// <param name="Category">E.g. <c>economy</c>.</param>
    /// <param name="PriceMinor">Price per seat, minor units of the show's currency.</param>
    /// <param name="SeatsAvailable">Seats of this category available now.</param>
    public sealed record CategoryAvailability(string Category, long PriceMinor, int SeatsAvailable);

    /// <summary>One show found.</summary>
    /// <param name="ShowId">The show id.</param>
    /// <param name="EventId">The event id.</param>
    /// <param name="Kind">film, flight or trip.</param>
    /// <param name="Title">The event's title.</param>
    /// <param name="Code">Flight number or service code; null for films.</param>
    /// <param name="Origin">Origin IATA code (or city for a coach trip); null for films.</param>
    /// <param name="Destination">Destination IATA code (or city); null for films.</param>
    /// <param name="VenueName">Hall, coach or cabin.</param>
    /// <param name="StartsAt">Start (departure), UTC.</param>
    /// <param name="EndsAt">End (arrival), UTC.</param>
    /// <param name="LocalStartsAt">Start in <paramref name="TimeZone"/>, with its offset.</param>
    /// <param name="TimeZone">IANA zone of the origin or venue.</param>
    /// <param name="Currency">ISO 4217 code.</param>
    /// <param name="LowestPriceMinor">Cheapest price among categories with a seat available; null when sold out.</param>
    /// <param name="SeatsAvailable">All categories together.</param>
    /// <param name="Categories">Per category, dearest first.</param>
    /// <param name="CurrencyExponent">Digits after the decimal point of <paramref name="Currency"/> (2 for GBP, 0 for JPY).</param>
    public sealed record Item(
        long ShowId, long EventId, string Kind, string Title, string? Code, string? Origin, string? Destination, string VenueName,
        DateTimeOffset StartsAt, DateTimeOffset EndsAt, DateTimeOffset LocalStartsAt, string TimeZone, string Currency,
        long? LowestPriceMinor, int SeatsAvailable, IReadOnlyList<CategoryAvailability> Categories, int CurrencyExponent);

    /// <summary>A page of results.</summary>
    /// <param name="Items">The shows, in the requested order.</param>
    /// <param name="NextCursor">Pass as <c>cursor</c> for the next page; null on the last page.</param>
    public sealed record Response(IReadOnlyList<Item> Items, string? NextCursor);

    private sealed record Cursor(
        [property: JsonPropertyName("s")] string Sort,
        [property: JsonPropertyName("t")] DateTimeOffset StartsAt,
        [property: JsonPropertyName("p")] long? Price,
        [property: JsonPropertyName("i")] long ShowId);

    private sealed record Query(
        string? Origin, string? Destination, DateOnly? Date, string? Kind, string? TitlePattern, string? Currency,
        long? MinPrice, long? MaxPrice, string? Category, int? MinSeats, string Sort, int Limit, Cursor? After);

    private static readonly JsonSerializerOptions CategoryJson = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app) =>
        app.MapGet("/shows", HandleAsync)
            .WithTags("Search")
            .WithSummary("Search shows")
            .WithDescription(
                "Query: origin, destination (IATA code or city name), date (yyyy-MM-dd, local to the origin or venue), kind (film|flight|trip), " +
                "q (title contains), currency, min_price, max_price (minor units, on the lowest available price), category with min_seats " +
                "(at least that many available; min_seats alone means any category), sort (departure|price), limit (1–100, default 20), cursor. " +
                "400 names each invalid parameter. Answers carry an ETag; If-None-Match gives 304.")
            .Produces<Response>(StatusCodes.Status200OK)
            .ProducesValidationProblem()
            .AnswersWithETag()
            .DeclaresQuery(
                new("origin", "Where it leaves from: IATA code (flights) or city name.", MaxLength: 100, Example: "LHR"),
                new("destination", "Where it goes: IATA code or city name.", MaxLength: 100, Example: "JFK"),
                new("date", "The day it starts, local to the origin or venue.", Format: "date", Example: "2026-12-24"),
                new("kind", "What is sold.", Enum: ["film", "flight", "trip"]),
                new("q", "Title contains this (case-insensitive).", MaxLength: 100),
                new("currency", "ISO 4217 code; only shows sold in it.", Pattern: "^[A-Za-z]{3}$"),
                new("min_price", "Lowest available price at least this, in minor units.", "integer", "int64", Minimum: 0),
                new("max_price", "Lowest available price at most this, in minor units.", "integer", "int64", Minimum: 0),
                new("category", "Seat category, e.g. economy; with min_seats.", MaxLength: 32),
                new("min_seats", "At least this many available seats (of the category, or of any).", "integer", "int32", Minimum: 1, Maximum: 1000),
                new("sort", "Order of the results.", Enum: ["departure", "price"], Default: "departure"),
                new("limit", "Results per page.", "integer", "int32", Minimum: 1, Maximum: MaxLimit, Default: "20"),
                new("cursor", "`next_cursor` of the previous page, same sort.", MaxLength: 500));

    internal static async Task<IResult> HandleAsync(
        HttpContext http, ReadReplica reads, ReadCache cache, IOptions<JsonOptions> json, TimeProvider time, CancellationToken cancellationToken)
    {
        var validation = new Validation();
        var query = Parse(http.Request.Query, validation);
        if (!validation.IsValid)
        {
            return validation.Problem();
        }

        // The parsed query (a record) is the cache key: equal searches share an entry however written.
        var cached = await cache.GetOrAddAsync("search:" + query, async ct =>
        {
            // Search tolerates a replica, once it has caught up with the primary (ReadReplica).
            var response = await reads.ReadAsync(true, (connection, token) => RunAsync(connection, query!, time.GetUtcNow(), token), ct);
            return (JsonSerializer.SerializeToUtf8Bytes(response, json.Value.SerializerOptions), response.Items.Select(i => i.ShowId));
        }, cancellationToken);
        return ReadCache.Write(http, cached);
    }

    private static async Task<Response> RunAsync(NpgsqlConnection connection, Query query, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        Compose(command, query, now);
        var items = new List<Item>();
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                items.Add(new Item(
                    reader.Get<long>("show_id"), reader.Get<long>("event_id"), reader.Get<string>("kind"), reader.Get<string>("title"),
                    reader.Get<string?>("code"), reader.Get<string?>("origin"), reader.Get<string?>("destination"), reader.Get<string>("venue_name"),
                    reader.Get<DateTimeOffset>("starts_at"), reader.Get<DateTimeOffset>("ends_at"),
                    LocalTime.WithOffset(reader.Get<DateTime>("starts_at"), reader.Get<DateTime>("local_starts_at")),
                    reader.Get<string>("time_zone"), reader.Get<string>("currency"),
                    reader.Get<long?>("lowest_price_minor"), reader.Get<int>("seats_available"),
                    JsonSerializer.Deserialize<List<CategoryAvailability>>(reader.Get<string>("categories"), CategoryJson) ?? [],
                    reader.Get<short>("currency_exponent")));
            }
        }

        string? next = null;
        if (items.Count > query.Limit)
        {
            items.RemoveAt(items.Count - 1);
            var last = items[^1];
            next = Encode(new Cursor(query.Sort, last.StartsAt, query.Sort == "price" ? last.LowestPriceMinor : null, last.ShowId));
        }

        return new Response(items, next);
    }

    private static Query? Parse(IQueryCollection q, Validation validation)
    {
        string? Text(string name, int max)
        {
            var value = q[name].FirstOrDefault()?.Trim();
            if (string.IsNullOrEmpty(value))
            {
                return null;
            }

            validation.Require(value.Length <= max, name, $"At most {max} characters.");
            return value;
        }

        long? Number(string name, long min, long max)
        {
            var text = Text(name, 20);
            if (text is null)
            {
                return null;
            }

            if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
            {
                validation.Add(name, $"Must be a whole number from {min} to {max}.");
                return null;
            }

            return value;
        }

        var origin = Text("origin", 100);
        var destination = Text("destination", 100);
        DateOnly? date = null;
        if (Text("date", 10) is { } dateText)
        {
            if (DateOnly.TryParseExact(dateText, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var parsed))
            {
                date = parsed;
            }
            else
            {
                validation.Add("date", "Must be a date as yyyy-MM-dd, e.g. 2026-12-24.");
            }
        }

        var kind = Text("kind", 10);
        validation.Require(kind is null or "film" or "flight" or "trip", "kind", "Must be film, flight or trip.");
        var title = Text("q", 100);
        var currency = Text("currency", 3)?.ToUpperInvariant();
        validation.Require(currency is null || (currency.Length == 3 && currency.All(char.IsAsciiLetterUpper)), "currency", "Must be an ISO 4217 code such as GBP.");
        var minPrice = Number("min_price", 0, long.MaxValue / 2);
        var maxPrice = Number("max_price", 0, long.MaxValue / 2);
        validation.Require(minPrice is null || maxPrice is null || minPrice <= maxPrice, "max_price", "Must not be below min_price.");
        var category = Text("category", 32);
        var minSeats = (int?)Number("min_seats", 1, 1000);
        var sort = Text("sort", 10) ?? "departure";
        validation.Require(sort is "departure" or "price", "sort", "Must be departure or price.");
        var limit = (int?)Number("limit", 1, MaxLimit) ?? 20;
        Cursor? after = null;
        if (Text("cursor", 500) is { } cursorText)
        {
            after = Decode(cursorText);
            if (after is null || after.Sort != sort || (sort == "price" && after.Price is null))
            {
                validation.Add("cursor", "Not a cursor from a previous page of this search (same sort).");
            }
        }

        if (!validation.IsValid)
        {
            return null;
        }

        // A title search matches anywhere in the title; the user's % and _ are literal.
        var pattern = Sql.ContainsPattern(title);
        return new Query(origin, destination, date, kind, pattern, currency, minPrice, maxPrice, category, category is null ? minSeats : minSeats ?? 1, sort, limit, after);
    }

    // Only the filters asked for become SQL: each combination is its own statement, prepared once
    // per connection with a plan made for it. One catch-all statement with "@x is null or ..." was
    // planned afresh on every call (8 ms) and could not use the date window as an index condition
    // (docs/decisions/0008-hot-paths.md). Each predicate is added with its parameters.
    private static void Compose(NpgsqlCommand command, Query query, DateTimeOffset now)
    {
        var p = command.Parameters;
        p.With("now", now);
        p.With("limit", query.Limit + 1);
        var seatsOk = "null::boolean";
        if (query.MinSeats is { } minSeats)
        {
            p.With<long>("min_seats", minSeats);
            seatsOk = "coalesce(bool_or(c.available >= @min_seats), false)";
            if (query.Category is { } category)
            {
                p.With("category", category);
                seatsOk = "coalesce(bool_or(c.category = @category and c.available >= @min_seats), false)";
            }
        }

        var sql = new StringBuilder(SelectSql.Replace("@seats_ok", seatsOk, StringComparison.Ordinal));
        void And(string predicate) => sql.Append("\n  and ").Append(predicate);

        // A predicate with its one parameter, typed by its value as every other parameter here.
        void AndWith<T>(string predicate, string name, T value)
        {
            And(predicate);
            p.With(name, value);
        }

        // A route names a handful of events: resolve them first, so the plan starts from their shows
        // (show_event_local_day_idx) rather than from every show in the date window.
        var route = new List<string>();
        if (query.Origin is { } origin)
        {
            route.Add("(ev.origin_airport_id = (select airport_id from airport where iata = upper(@origin)::bpchar) " +
                      "or ev.origin_city_id in (select city_id from city where lower(name) = lower(@origin)))");
            p.With("origin", origin);
        }

        if (query.Destination is { } destination)
        {
            route.Add("(ev.destination_airport_id = (select airport_id from airport where iata = upper(@destination)::bpchar) " +
                      "or ev.destination_city_id in (select city_id from city where lower(name) = lower(@destination)))");
            p.With("destination", destination);
        }

        if (route.Count > 0)
        {
            And($"s.event_id = any(array(select ev.event_id from event ev where {string.Join(" and ", route)}))");
        }

        if (query.Date is { } date)
        {
            // Local dates span UTC−12 to UTC+14: the window is the index condition, AT TIME ZONE decides.
            var dayStart = new DateTimeOffset(date.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
            p.With("window_from", dayStart.AddHours(-14));
            p.With("window_to", dayStart.AddHours(24 + 12));
            AndWith("s.starts_at >= @window_from and s.starts_at < @window_to and (s.starts_at at time zone s.time_zone)::date = @date", "date", date);
        }

        if (query.Kind is { } kind)
        {
            AndWith("e.kind = @kind", "kind", kind);
        }

        if (query.TitlePattern is { } pattern)
        {
            AndWith("e.title ilike @title_pattern", "title_pattern", pattern);
        }

        if (query.Currency is { } currency)
        {
            AndWith("s.currency = @currency", "currency", currency);
        }

        if (query.MinPrice is { } minPrice)
        {
            AndWith("a.lowest_price_minor >= @min_price", "min_price", minPrice);
        }

        if (query.MaxPrice is { } maxPrice)
        {
            AndWith("a.lowest_price_minor <= @max_price", "max_price", maxPrice);
        }

        if (query.MinSeats is not null)
        {
            And("a.seats_ok");
        }

        var byPrice = query.Sort == "price";
        if (byPrice)
        {
            And("a.lowest_price_minor is not null");
        }

        if (query.After is { } after)
        {
            p.With("after_starts_at", after.StartsAt);
            p.With("after_id", after.ShowId);
            if (byPrice)
            {
                AndWith("(a.lowest_price_minor, s.starts_at, s.show_id) > (@after_price, @after_starts_at, @after_id)", "after_price", after.Price!.Value);
            }
            else
            {
                And("(s.starts_at, s.show_id) > (@after_starts_at, @after_id)");
            }
        }

        sql.Append(byPrice ? "\norder by a.lowest_price_minor, s.starts_at, s.show_id" : "\norder by s.starts_at, s.show_id");
        sql.Append("\nlimit @limit");
        command.CommandText = sql.ToString();
    }

    private static string Encode(Cursor cursor) => WebEncoders.Base64UrlEncode(JsonSerializer.SerializeToUtf8Bytes(cursor));

    private static Cursor? Decode(string text)
    {
        try
        {
            return JsonSerializer.Deserialize<Cursor>(WebEncoders.Base64UrlDecode(text));
        }
        catch (Exception ex) when (ex is FormatException or JsonException)
        {
            return null;
        }
    }

    // Availability is counted from show_seat rows (GUIDE §7: no counter to drift), one grouped scan
    // of the show's seats per show. Names come from scalar subqueries, run for the rows returned
    // only; as joins they made planning this statement cost 10–14 ms. The keyset predicates compare row values in the same order as
    // ORDER BY, so each page starts exactly after the last row of the previous one.
    private const string SelectSql = """
        select s.show_id, e.event_id, e.kind, e.title, e.code,
               coalesce((select iata from airport where airport_id = e.origin_airport_id)::text,
                        (select name from city where city_id = e.origin_city_id)) as origin,
               coalesce((select iata from airport where airport_id = e.destination_airport_id)::text,
                        (select name from city where city_id = e.destination_city_id)) as destination,
               (select name from venue where venue_id = s.venue_id) as venue_name,
               s.starts_at, s.ends_at, s.starts_at at time zone s.time_zone as local_starts_at, s.time_zone, s.currency,
               a.lowest_price_minor, a.seats_available, a.categories,
               (select exponent from currency where code = s.currency) as currency_exponent
        from show s
        join event e on e.event_id = s.event_id
        cross join lateral (
          select coalesce(json_agg(json_build_object('category', c.category, 'price_minor', c.amount_minor, 'seats_available', c.available)
                                   order by c.amount_minor desc, c.category), '[]')::text as categories,
                 min(c.amount_minor) filter (where c.available > 0) as lowest_price_minor,
                 coalesce(sum(c.available), 0)::int as seats_available,
                 @seats_ok as seats_ok
          from (select p.category, p.amount_minor, count(ss.seat_id)::int as available
                from show_price p
                left join show_seat ss on ss.show_id = p.show_id and ss.category = p.category and ss.state = 'available'
                where p.show_id = s.show_id
                group by p.category, p.amount_minor) as c
        ) as a
        where s.status = 'on_sale'
          and s.starts_at > @now
          and e.status = 'active'
        """;

}

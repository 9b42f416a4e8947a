using System.Text.Json;
using Carter;
using Holdfast.Infrastructure.Caching;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Holdfast.Features.Places;

/// <summary>
/// <c>GET /cities</c>, <c>GET /airports</c> (filtered, keyset-paged by id, with an <c>ETag</c>) and
/// <c>GET /cities/{id}</c>, <c>GET /airports/{id}</c> (where the <c>Location</c> of <c>POST /cities</c>
/// and <c>POST /airports</c> points). Places are public: anyone may read them.
/// </summary>
public sealed class ReadPlaces : ICarterModule
{
    /// <summary>Most items per page.</summary>
    public const int MaxLimit = 200;

    /// <summary>A page of cities.</summary>
    /// <param name="Items">Cities in id order.</param>
    /// <param name="NextAfterId">Pass as <c>after_id</c> for the next page; null on the last page.</param>
    public sealed record CityPage(IReadOnlyList<City> Items, long? NextAfterId);

    /// <summary>A page of airports.</summary>
    /// <param name="Items">Airports in id order.</param>
    /// <param name="NextAfterId">Pass as <c>after_id</c> for the next page; null on the last page.</param>
    public sealed record AirportPage(IReadOnlyList<Airport> Items, long? NextAfterId);

    /// <summary>A city.</summary>
    /// <param name="CityId">The city id.</param>
    /// <param name="Name">Its name.</param>
    /// <param name="Country">Its country.</param>
    /// <param name="TimeZone">IANA zone of shows in its venues.</param>
    public sealed record City(long CityId, string Name, string Country, string TimeZone);

    /// <summary>An airport.</summary>
    /// <param name="AirportId">The airport id.</param>
    /// <param name="Iata">IATA code, e.g. <c>LHR</c>.</param>
    /// <param name="Icao">ICAO code, e.g. <c>EGLL</c>, if known.</param>
    /// <param name="Name">Its name.</param>
    /// <param name="CityId">The city it serves.</param>
    /// <param name="Latitude">Degrees, −90 to 90.</param>
    /// <param name="Longitude">Degrees, −180 to 180.</param>
    /// <param name="TimeZone">IANA zone of departures from it.</param>
    public sealed record Airport(long AirportId, string Iata, string? Icao, string Name, long CityId, double Latitude, double Longitude, string TimeZone);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app)
    {
        app.MapGet("/cities", ListCitiesAsync).WithTags("Places").WithSummary("List cities")
            .Produces<CityPage>(StatusCodes.Status200OK)
            .AnswersWithETag()
            .DeclaresQuery(
                new("q", "Name contains this (case-insensitive).", MaxLength: 200),
                new("country", "Exactly this country.", MaxLength: 100),
                new("after_id", "`next_after_id` of the previous page.", "integer", "int64", Minimum: 0),
                new("limit", "Items per page.", "integer", "int32", Minimum: 1, Maximum: MaxLimit, Default: "50"));
        app.MapGet("/airports", ListAirportsAsync).WithTags("Places").WithSummary("List airports")
            .Produces<AirportPage>(StatusCodes.Status200OK)
            .AnswersWithETag()
            .DeclaresQuery(
                new("q", "IATA code, or name contains this (case-insensitive).", MaxLength: 200),
                new("city_id", "Airports serving this city.", "integer", "int64", Minimum: 1),
                new("after_id", "`next_after_id` of the previous page.", "integer", "int64", Minimum: 0),
                new("limit", "Items per page.", "integer", "int32", Minimum: 1, Maximum: MaxLimit, Default: "50"));
        app.MapGet("/cities/{cityId:long}", GetCityAsync).WithTags("Places").WithSummary("Get a city").WithDescription("404 when there is no such city.");
        app.MapGet("/airports/{airportId:long}", GetAirportAsync).WithTags("Places").WithSummary("Get an airport").WithDescription("404 when there is no such airport.");
    }

    internal static async Task<IResult> ListCitiesAsync(HttpContext http, NpgsqlDataSource db, IOptions<JsonOptions> json, CancellationToken cancellationToken)
    {
        var validation = new Validation();
        var (afterId, limit) = Page(http.Request.Query, validation);
        var q = Text(http.Request.Query, "q", 200, validation);
        var country = Text(http.Request.Query, "country", 100, validation);
        if (!validation.IsValid)
        {
            return validation.Problem();
        }

        await using var command = db.CreateCommand("""
            select city_id, name, country, time_zone from city
            where city_id > @after_id
              and (@q::text is null or name ilike '%' || @like || '%')
              and (@country::text is null or country = @country)
            order by city_id
            limit @limit
            """);
        command.With("after_id", afterId).With("q", q).With("like", Like(q)).With("country", country).With("limit", limit + 1);
        var items = new List<City>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            items.Add(new City(reader.Get<long>("city_id"), reader.Get<string>("name"), reader.Get<string>("country"), reader.Get<string>("time_zone")));
        }

        var page = items.Count > limit ? new CityPage(items[..limit], items[limit - 1].CityId) : new CityPage(items, null);
        return ReadCache.WriteWithETag(http, JsonSerializer.SerializeToUtf8Bytes(page, json.Value.SerializerOptions));
    }

    internal static async Task<IResult> ListAirportsAsync(HttpContext http, NpgsqlDataSource db, IOptions<JsonOptions> json, CancellationToken cancellationToken)
    {
        var validation = new Validation();
        var (afterId, limit) = Page(http.Request.Query, validation);
        var q = Text(http.Request.Query, "q", 200, validation);
        var cityId = Number(http.Request.Query, "city_id", 1, long.MaxValue, validation);
        if (!validation.IsValid)
        {
            return validation.Problem();
        }

        await using var command = db.CreateCommand("""
            select airport_id, iata::text as iata, icao, name, city_id, latitude, longitude, time_zone from airport
            where airport_id > @after_id
              and (@q::text is null or iata = upper(@q) or name ilike '%' || @like || '%')
              and (@city_id::bigint is null or city_id = @city_id)
            order by airport_id
            limit @limit
            """);
        command.With("after_id", afterId).With("q", q).With("like", Like(q)).With("city_id", cityId).With("limit", limit + 1);
        var items = new List<Airport>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            items.Add(ReadAirport(reader));
        }

        var page = items.Count > limit ? new AirportPage(items[..limit], items[limit - 1].AirportId) : new AirportPage(items, null);
        return ReadCache.WriteWithETag(http, JsonSerializer.SerializeToUtf8Bytes(page, json.Value.SerializerOptions));
    }

    private static (long AfterId, int Limit) Page(IQueryCollection query, Validation validation) =>
        (Number(query, "after_id", 0, long.MaxValue, validation) ?? 0, (int)(Number(query, "limit", 1, MaxLimit, validation) ?? 50));

    private static string? Text(IQueryCollection query, string name, int max, Validation validation)
    {
        var value = query[name].FirstOrDefault()?.Trim();
        if (string.IsNullOrEmpty(value))
        {
            return null;
        }

        validation.Require(value.Length <= max, name, $"At most {max} characters.");
        return value;
    }

    // For ILIKE: the user's % and _ are literal.
    private static string? Like(string? text) =>
        text?.Replace(@"\", @"\\", StringComparison.Ordinal).Replace("%", @"\%", StringComparison.Ordinal).Replace("_", @"\_", StringComparison.Ordinal);

    private static long? Number(IQueryCollection query, string name, long min, long max, Validation validation)
    {
        var text = query[name].FirstOrDefault();
        if (string.IsNullOrEmpty(text))
        {
            return null;
        }

        if (long.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var value) && value >= min && value <= max)
        {
            return value;
        }

        validation.Add(name, $"Must be a whole number from {min} to {max}.");
        return null;
    }

    private static Airport ReadAirport(NpgsqlDataReader reader) =>
        new(reader.Get<long>("airport_id"), reader.Get<string>("iata"), reader.Get<string?>("icao"), reader.Get<string>("name"),
            reader.Get<long>("city_id"), reader.Get<double>("latitude"), reader.Get<double>("longitude"), reader.Get<string>("time_zone"));

    internal static async Task<Results<Ok<City>, ProblemHttpResult>> GetCityAsync(long cityId, NpgsqlDataSource db, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand("select city_id, name, country, time_zone from city where city_id = @city_id");
        command.With("city_id", cityId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? TypedResults.Ok(new City(reader.Get<long>("city_id"), reader.Get<string>("name"), reader.Get<string>("country"), reader.Get<string>("time_zone")))
            : Problems.NotFound("City");
    }

    internal static async Task<Results<Ok<Airport>, ProblemHttpResult>> GetAirportAsync(long airportId, NpgsqlDataSource db, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand("""
            select airport_id, iata::text as iata, icao, name, city_id, latitude, longitude, time_zone from airport where airport_id = @airport_id
            """);
        command.With("airport_id", airportId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? TypedResults.Ok(ReadAirport(reader))
            : Problems.NotFound("Airport");
    }
}

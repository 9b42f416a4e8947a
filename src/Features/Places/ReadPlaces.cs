using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Text.Json;
using Carter;
using Holdfast.Infrastructure.Caching;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;
using Npgsql;
using FromQueryAttribute = Microsoft.AspNetCore.Mvc.FromQueryAttribute;

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
            .AnswersWithETag();
        app.MapGet("/airports", ListAirportsAsync).WithTags("Places").WithSummary("List airports")
            .Produces<AirportPage>(StatusCodes.Status200OK)
            .AnswersWithETag();
        app.MapGet("/cities/{cityId:long}", GetCityAsync).WithTags("Places").WithSummary("Get a city").WithDescription("404 when there is no such city.");
        app.MapGet("/airports/{airportId:long}", GetAirportAsync).WithTags("Places").WithSummary("Get an airport").WithDescription("404 when there is no such airport.");
    }

    internal static async Task<IResult> ListCitiesAsync(
        [Description("Name contains this (case-insensitive)."), MaxLength(200)] string? q,
        [Description("Exactly this country."), MaxLength(100)] string? country,
        [Description("`next_after_id` of the previous page."), FromQuery(Name = "after_id")] long? afterId,
        [Description("Items per page (default 50)."), Range(1, MaxLimit)] int? limit,
        HttpContext http, NpgsqlDataSource db, IOptions<JsonOptions> json, CancellationToken cancellationToken)
    {
        var validation = PageRules(limit).Require(q is null or { Length: <= 200 }, "q", "At most 200 characters.")
            .Require(country is null or { Length: <= 100 }, "country", "At most 100 characters.");
        if (!validation.IsValid)
        {
            return validation.Problem();
        }

        await using var command = db.CreateCommand("""
            select city_id, name, country, time_zone from city
            where city_id > @after_id
              and (@like::text is null or name ilike @like)
              and (@country::text is null or country = @country)
            order by city_id
            limit @limit
            """);
        var size = limit ?? DefaultLimit;
        command.With("after_id", afterId ?? 0).With("like", Sql.ContainsPattern(q)).With("country", country).With("limit", size + 1);
        var items = new List<City>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            items.Add(new City(reader.Get<long>("city_id"), reader.Get<string>("name"), reader.Get<string>("country"), reader.Get<string>("time_zone")));
        }

        var page = items.Count > size ? new CityPage(items[..size], items[size - 1].CityId) : new CityPage(items, null);
        return ReadCache.WriteWithETag(http, JsonSerializer.SerializeToUtf8Bytes(page, json.Value.SerializerOptions));
    }

    internal static async Task<IResult> ListAirportsAsync(
        [Description("IATA code, or name contains this (case-insensitive)."), MaxLength(200)] string? q,
        [Description("Airports serving this city."), FromQuery(Name = "city_id")] long? cityId,
        [Description("`next_after_id` of the previous page."), FromQuery(Name = "after_id")] long? afterId,
        [Description("Items per page (default 50)."), Range(1, MaxLimit)] int? limit,
        HttpContext http, NpgsqlDataSource db, IOptions<JsonOptions> json, CancellationToken cancellationToken)
    {
        var validation = PageRules(limit).Require(q is null or { Length: <= 200 }, "q", "At most 200 characters.");
        if (!validation.IsValid)
        {
            return validation.Problem();
        }

        await using var command = db.CreateCommand("""
            select airport_id, iata::text as iata, icao, name, city_id, latitude, longitude, time_zone from airport
            where airport_id > @after_id
              and (@q::text is null or iata = upper(@q) or name ilike @like)
              and (@city_id::bigint is null or city_id = @city_id)
            order by airport_id
            limit @limit
            """);
        var size = limit ?? DefaultLimit;
        command.With("after_id", afterId ?? 0).With("q", q).With("like", Sql.ContainsPattern(q)).With("city_id", cityId).With("limit", size + 1);
        var items = new List<Airport>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            items.Add(ReadAirport(reader));
        }

        var page = items.Count > size ? new AirportPage(items[..size], items[size - 1].AirportId) : new AirportPage(items, null);
        return ReadCache.WriteWithETag(http, JsonSerializer.SerializeToUtf8Bytes(page, json.Value.SerializerOptions));
    }

    private const int DefaultLimit = 50;

    private static Validation PageRules(int? limit) =>
        new Validation().Require(limit is null or (>= 1 and <= MaxLimit), "limit", $"Must be 1 to {MaxLimit}.");

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

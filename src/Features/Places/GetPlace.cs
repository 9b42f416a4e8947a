using Carter;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace Holdfast.Features.Places;

/// <summary>
/// <c>GET /cities/{id}</c> and <c>GET /airports/{id}</c>: one place, where the <c>Location</c> of
/// <c>POST /cities</c> and <c>POST /airports</c> points. Places are public: anyone may read them.
/// </summary>
public sealed class GetPlace : ICarterModule
{
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
        app.MapGet("/cities/{cityId:long}", GetCityAsync).WithTags("Places").WithSummary("Get a city").WithDescription("404 when there is no such city.");
        app.MapGet("/airports/{airportId:long}", GetAirportAsync).WithTags("Places").WithSummary("Get an airport").WithDescription("404 when there is no such airport.");
    }

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
            ? TypedResults.Ok(new Airport(reader.Get<long>("airport_id"), reader.Get<string>("iata"), reader.Get<string?>("icao"), reader.Get<string>("name"),
                reader.Get<long>("city_id"), reader.Get<double>("latitude"), reader.Get<double>("longitude"), reader.Get<string>("time_zone")))
            : Problems.NotFound("Airport");
    }
}

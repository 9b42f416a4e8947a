using System.Text.RegularExpressions;
using Carter;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace Holdfast.Features.Places;

/// <summary>
/// <c>POST /cities</c> and <c>POST /airports</c>: admins add places the OpenFlights data lacks.
/// Time zones must be IANA names PostgreSQL knows (<c>pg_timezone_names</c>), because every local
/// time is computed there.
/// </summary>
public sealed partial class ManagePlaces : ICarterModule
{
    /// <summary>A city.</summary>
    /// <param name="Name">1–200 characters, unique with the country.</param>
    /// <param name="Country">1–100 characters.</param>
    /// <param name="TimeZone">IANA name, e.g. Europe/Paris.</param>
    public sealed record CityRequest(string? Name, string? Country, string? TimeZone);

    /// <summary>An airport.</summary>
    /// <param name="Iata">Three capital letters or digits, unique.</param>
    /// <param name="Icao">Four characters, optional.</param>
    /// <param name="Name">1–200 characters.</param>
    /// <param name="CityId">Its city.</param>
    /// <param name="Latitude">−90 to 90.</param>
    /// <param name="Longitude">−180 to 180.</param>
    /// <param name="TimeZone">IANA name.</param>
    public sealed record AirportRequest(string? Iata, string? Icao, string? Name, long? CityId, double? Latitude, double? Longitude, string? TimeZone);

    /// <summary>The id of what was created.</summary>
    public sealed record Created(long Id);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app)
    {
        app.MapPost("/cities", CreateCityAsync).RequireAuthorization(Roles.Admin).WithTags("Places")
            .DeclaresProblem(StatusCodes.Status409Conflict, "A city with this name and country exists.")
            .WithSummary("Add a city").WithDescription("Admins. 400 names each invalid field; 409 when the city exists in that country.");
        app.MapPost("/airports", CreateAirportAsync).RequireAuthorization(Roles.Admin).WithTags("Places")
            .DeclaresProblem(StatusCodes.Status409Conflict, "The IATA code is taken.")
            .WithSummary("Add an airport").WithDescription("Admins. 400 names each invalid field; 409 when the IATA code exists.");
    }

    internal static async Task<Results<Created<Created>, ValidationProblem, ProblemHttpResult>> CreateCityAsync(
        CityRequest request, HttpContext http, NpgsqlDataSource db, TimeProvider time, CancellationToken cancellationToken)
    {
        var validation = new Validation()
            .Require(request.Name is { Length: >= 1 and <= 200 }, "name", "Required: 1 to 200 characters.")
            .Require(request.Country is { Length: >= 1 and <= 100 }, "country", "Required: 1 to 100 characters.");
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await RequireZoneAsync(connection, request.TimeZone, validation, cancellationToken);
        if (!validation.IsValid)
        {
            return validation.Problem();
        }

        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using var command = new NpgsqlCommand("insert into city (name, country, time_zone) values (@name, @country, @zone) returning city_id", connection);
        command.With("name", request.Name!);
        command.With("country", request.Country!);
        command.With("zone", request.TimeZone!);
        try
        {
            var id = (long)(await command.ExecuteScalarAsync(cancellationToken))!;
            await AuditLog.RecordAsync(connection, http.User.UserId(), "city.created", "city", id, null, request, time.GetUtcNow(), cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            return TypedResults.Created($"/cities/{id}", new Created(id));
        }
        catch (PostgresException ex) when (ex.ProblemFor(
            new OnConstraint("city_name_country_uq", () => Problems.Conflict("City exists.", $"{request.Name}, {request.Country} is already there."))) is { } problem)
        {
            return problem;
        }
    }

    internal static async Task<Results<Created<Created>, ValidationProblem, ProblemHttpResult>> CreateAirportAsync(
        AirportRequest request, HttpContext http, NpgsqlDataSource db, TimeProvider time, CancellationToken cancellationToken)
    {
        var validation = new Validation()
            .Require(request.Iata is not null && Iata().IsMatch(request.Iata), "iata", "Required: three capital letters or digits.")
            .Require(request.Icao is null || Icao().IsMatch(request.Icao), "icao", "Four capital letters or digits.")
            .Require(request.Name is { Length: >= 1 and <= 200 }, "name", "Required: 1 to 200 characters.")
            .Require(request.CityId is not null, "city_id", "Required.")
            .Require(request.Latitude is >= -90 and <= 90, "latitude", "Required: −90 to 90.")
            .Require(request.Longitude is >= -180 and <= 180, "longitude", "Required: −180 to 180.");
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await RequireZoneAsync(connection, request.TimeZone, validation, cancellationToken);
        if (!validation.IsValid)
        {
            return validation.Problem();
        }

        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using var command = new NpgsqlCommand("""
            insert into airport (iata, icao, name, city_id, latitude, longitude, time_zone)
            values (@iata, @icao, @name, @city_id, @latitude, @longitude, @zone)
            returning airport_id
            """, connection);
        command.With("iata", request.Iata!);
        command.With("icao", request.Icao);
        command.With("name", request.Name!);
        command.With("city_id", request.CityId!.Value);
        command.With("latitude", request.Latitude!.Value);
        command.With("longitude", request.Longitude!.Value);
        command.With("zone", request.TimeZone!);
        try
        {
            var id = (long)(await command.ExecuteScalarAsync(cancellationToken))!;
            await AuditLog.RecordAsync(connection, http.User.UserId(), "airport.created", "airport", id, null, request, time.GetUtcNow(), cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            return TypedResults.Created($"/airports/{id}", new Created(id));
        }
        catch (PostgresException ex) when (ex.ProblemFor(
            new OnConstraint("airport_iata_uq", () => Problems.Conflict("Airport exists.", $"IATA code {request.Iata} is taken.")),
            new OnConstraint("airport_city_fk", () => Problems.Field("city_id", "No such city."))) is { } problem)
        {
            return problem;
        }
    }

    private static async Task RequireZoneAsync(NpgsqlConnection connection, string? zone, Validation validation, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(zone) || zone.Length > 64)
        {
            validation.Add("time_zone", "Required: an IANA time zone such as Europe/Paris.");
            return;
        }

        await using var command = new NpgsqlCommand("select exists (select 1 from pg_timezone_names where name = @zone)", connection);
        command.With("zone", zone);
        if (!(bool)(await command.ExecuteScalarAsync(cancellationToken))!)
        {
            validation.Add("time_zone", $"{zone} is not an IANA time zone PostgreSQL knows.");
        }
    }

    [GeneratedRegex("^[A-Z0-9]{3}$")]
    private static partial Regex Iata();

    [GeneratedRegex("^[A-Z0-9]{4}$")]
    private static partial Regex Icao();
}

using System.Text.RegularExpressions;
using Carter;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Caching;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace Holdfast.Features.Places;

/// <summary>
/// <c>POST</c>, <c>PATCH</c> and <c>DELETE</c> on <c>/cities</c> and <c>/airports</c>: admins add
/// places the OpenFlights data lacks, correct them, and delete those nothing refers to (a 409 names
/// what still does). Every change is audited and drops every node's read cache (search matches
/// city names and IATA codes).
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

    /// <summary>Changes to a city; absent fields stay as they are.</summary>
    /// <param name="Name">1–200 characters.</param>
    /// <param name="Country">1–100 characters.</param>
    /// <param name="TimeZone">IANA name; changes the local times of shows in its venues.</param>
    public sealed record CityChange(string? Name, string? Country, string? TimeZone);

    /// <summary>Changes to an airport; absent fields stay as they are.</summary>
    /// <param name="Icao">Four capital letters or digits.</param>
    /// <param name="Name">1–200 characters.</param>
    /// <param name="Latitude">−90 to 90.</param>
    /// <param name="Longitude">−180 to 180.</param>
    /// <param name="TimeZone">IANA name.</param>
    public sealed record AirportChange(string? Icao, string? Name, double? Latitude, double? Longitude, string? TimeZone);

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
        app.MapPatch("/cities/{cityId:long}", UpdateCityAsync).RequireAuthorization(Roles.Admin).WithTags("Places")
            .DeclaresProblem(StatusCodes.Status409Conflict, "Another city with this name and country exists.")
            .WithSummary("Correct a city").WithDescription("Admins. 204; 400 names each invalid field.");
        app.MapDelete("/cities/{cityId:long}", DeleteCityAsync).RequireAuthorization(Roles.Admin).WithTags("Places")
            .DeclaresProblem(StatusCodes.Status409Conflict, "Airports, venues or events still refer to the city; `referenced_by` counts them.")
            .WithSummary("Delete a city nothing refers to").WithDescription("Admins. 204.");
        app.MapPatch("/airports/{airportId:long}", UpdateAirportAsync).RequireAuthorization(Roles.Admin).WithTags("Places")
            .WithSummary("Correct an airport").WithDescription("Admins. 204; 400 names each invalid field. The IATA code and city are fixed: add a new airport instead.");
        app.MapDelete("/airports/{airportId:long}", DeleteAirportAsync).RequireAuthorization(Roles.Admin).WithTags("Places")
            .DeclaresProblem(StatusCodes.Status409Conflict, "Events still fly from or to the airport; `referenced_by` counts them.")
            .WithSummary("Delete an airport nothing refers to").WithDescription("Admins. 204.");
    }

    internal static Task<Results<NoContent, ValidationProblem, ProblemHttpResult>> UpdateCityAsync(
        long cityId, CityChange request, HttpContext http, NpgsqlDataSource db, TimeProvider time, CancellationToken cancellationToken)
    {
        var validation = new Validation()
            .Require(request.Name is null or { Length: >= 1 and <= 200 }, "name", "1 to 200 characters.")
            .Require(request.Country is null or { Length: >= 1 and <= 100 }, "country", "1 to 100 characters.");
        return ChangeAsync("city", cityId, validation, request.TimeZone, UpdateCitySql,
            command => command.With("name", request.Name).With("country", request.Country), request, http, db, time, cancellationToken,
            new OnConstraint("city_name_country_uq", () => Problems.Conflict("City exists.", "Another city has this name in this country.")));
    }

    internal static Task<Results<NoContent, ValidationProblem, ProblemHttpResult>> UpdateAirportAsync(
        long airportId, AirportChange request, HttpContext http, NpgsqlDataSource db, TimeProvider time, CancellationToken cancellationToken)
    {
        var validation = new Validation()
            .Require(request.Icao is null || Icao().IsMatch(request.Icao), "icao", "Four capital letters or digits.")
            .Require(request.Name is null or { Length: >= 1 and <= 200 }, "name", "1 to 200 characters.")
            .Require(request.Latitude is null or (>= -90 and <= 90), "latitude", "−90 to 90.")
            .Require(request.Longitude is null or (>= -180 and <= 180), "longitude", "−180 to 180.");
        return ChangeAsync("airport", airportId, validation, request.TimeZone, UpdateAirportSql,
            command => command.With("icao", request.Icao).With("name", request.Name).With("latitude", request.Latitude).With("longitude", request.Longitude),
            request, http, db, time, cancellationToken);
    }

    // A correction: the time zone checked with the other fields, then one UPDATE (@id, @zone and the
    // fields bind adds) returning the row as it was, audited and announced to every node's read
    // cache in the same transaction.
    private static async Task<Results<NoContent, ValidationProblem, ProblemHttpResult>> ChangeAsync(
        string entity, long id, Validation validation, string? timeZone, string updateSql, Action<NpgsqlCommand> bind, object request,
        HttpContext http, NpgsqlDataSource db, TimeProvider time, CancellationToken cancellationToken, params OnConstraint[] constraints)
    {
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        if (timeZone is not null)
        {
            await RequireZoneAsync(connection, timeZone, validation, cancellationToken);
        }

        if (!validation.IsValid)
        {
            return validation.Problem();
        }

        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using var command = new NpgsqlCommand(updateSql, connection);
        bind(command.With("id", id).With("zone", timeZone));
        try
        {
            if (await command.ExecuteScalarAsync(cancellationToken) is not string before)
            {
                return Problems.NotFound(char.ToUpperInvariant(entity[0]) + entity[1..]);
            }

            await AuditLog.RecordAsync(connection, http.User.UserId(), $"{entity}.updated", entity, id, System.Text.Json.JsonDocument.Parse(before).RootElement, request, time.GetUtcNow(), cancellationToken);
            await ReadCache.NotifyCatalogueChangedAsync(connection, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            return TypedResults.NoContent();
        }
        catch (PostgresException ex) when (ex.ProblemFor(constraints) is { } problem)
        {
            return problem;
        }
    }

    internal static Task<Results<NoContent, ProblemHttpResult>> DeleteCityAsync(
        long cityId, HttpContext http, NpgsqlDataSource db, TimeProvider time, CancellationToken cancellationToken) =>
        DeleteAsync("city", cityId, DeleteCitySql, CityReferencesSql, http, db, time, cancellationToken);

    internal static Task<Results<NoContent, ProblemHttpResult>> DeleteAirportAsync(
        long airportId, HttpContext http, NpgsqlDataSource db, TimeProvider time, CancellationToken cancellationToken) =>
        DeleteAsync("airport", airportId, DeleteAirportSql, AirportReferencesSql, http, db, time, cancellationToken);

    // Deletes the row, letting its foreign keys decide: a referring row inserted at the same moment
    // makes the delete fail rather than slip past a check made before it. The 409 then counts what refers.
    private static async Task<Results<NoContent, ProblemHttpResult>> DeleteAsync(
        string entity, long id, string deleteSql, string referencesSql, HttpContext http, NpgsqlDataSource db, TimeProvider time, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        try
        {
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            await using var command = new NpgsqlCommand(deleteSql, connection);
            command.With("id", id);
            if (await command.ExecuteScalarAsync(cancellationToken) is not string before)
            {
                return Problems.NotFound(char.ToUpperInvariant(entity[0]) + entity[1..]);
            }

            await AuditLog.RecordAsync(connection, http.User.UserId(), $"{entity}.deleted", entity, id, System.Text.Json.JsonDocument.Parse(before).RootElement, null, time.GetUtcNow(), cancellationToken);
            await ReadCache.NotifyCatalogueChangedAsync(connection, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            return TypedResults.NoContent();
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.ForeignKeyViolation)
        {
            await using var count = new NpgsqlCommand(referencesSql, connection);
            count.With("id", id);
            var referencedBy = new Dictionary<string, object?>();
            await using var reader = await count.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                referencedBy[reader.Get<string>("kind")] = reader.Get<long>("count");
            }

            return Problems.Conflict($"The {entity} is in use.", $"Still referred to by {string.Join(", ", referencedBy.Select(r => $"{r.Value} {r.Key}"))}.",
                new Dictionary<string, object?> { ["referenced_by"] = referencedBy });
        }
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

    // Each returns the row as it was (for the audit), or nothing when there is no such row.
    private const string UpdateCitySql = """
        with before as (select city_id, name, country, time_zone from city where city_id = @id for update)
        update city c set name = coalesce(@name, c.name), country = coalesce(@country, c.country), time_zone = coalesce(@zone, c.time_zone)
        from before b where c.city_id = b.city_id
        returning json_build_object('name', b.name, 'country', b.country, 'time_zone', b.time_zone)::text
        """;

    private const string UpdateAirportSql = """
        with before as (select airport_id, icao, name, latitude, longitude, time_zone from airport where airport_id = @id for update)
        update airport a set icao = coalesce(@icao, a.icao), name = coalesce(@name, a.name), latitude = coalesce(@latitude, a.latitude),
                             longitude = coalesce(@longitude, a.longitude), time_zone = coalesce(@zone, a.time_zone)
        from before b where a.airport_id = b.airport_id
        returning json_build_object('icao', b.icao, 'name', b.name, 'latitude', b.latitude, 'longitude', b.longitude, 'time_zone', b.time_zone)::text
        """;

    private const string DeleteCitySql = """
        delete from city where city_id = @id
        returning json_build_object('name', name, 'country', country, 'time_zone', time_zone)::text
        """;

    private const string DeleteAirportSql = """
        delete from airport where airport_id = @id
        returning json_build_object('iata', iata, 'name', name, 'city_id', city_id)::text
        """;

    private const string CityReferencesSql = """
        select kind, count from (values
          ('airports', (select count(*) from airport where city_id = @id)),
          ('venues', (select count(*) from venue where city_id = @id)),
          ('events', (select count(*) from event where origin_city_id = @id or destination_city_id = @id))) r(kind, count)
        where count > 0
        """;

    private const string AirportReferencesSql = """
        select 'events' as kind, count(*) as count from event where origin_airport_id = @id or destination_airport_id = @id
        """;

    [GeneratedRegex("^[A-Z0-9]{3}$")]
    private static partial Regex Iata();

    [GeneratedRegex("^[A-Z0-9]{4}$")]
    private static partial Regex Icao();
}

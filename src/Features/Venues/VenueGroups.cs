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

namespace Holdfast.Features.Venues;

/// <summary>
/// <c>POST /venue-groups</c>, <c>GET /venue-groups</c> and <c>GET /venue-groups/{id}</c>: an organizer groups venues, a cinema its
/// halls, a coach operator its fleet. A venue joins a group of its own owner when created
/// (<c>venue_group_id</c> on <c>POST /venues</c>) or later (<c>PATCH /venues/{id}</c>), and
/// <c>GET /venues?venue_group_id=</c> lists a group's venues (decision 0026).
/// </summary>
public sealed class VenueGroups : ICarterModule
{
    /// <summary>Most items per page.</summary>
    public const int MaxLimit = 200;

    /// <summary>A new group.</summary>
    /// <param name="Name">1–100 characters, unique per owner, e.g. <c>Odeon Leicester Square</c>.</param>
    /// <param name="OwnerUserId">Admins only: the organizer who will own it; defaults to the caller.</param>
    public sealed record Request(string? Name, long? OwnerUserId);

    /// <summary>A group of venues.</summary>
    /// <param name="VenueGroupId">The group id.</param>
    /// <param name="Name">Its name.</param>
    /// <param name="OwnerUserId">The organizer who owns it and its venues.</param>
    /// <param name="VenueCount">Venues in it, archived ones included.</param>
    /// <param name="CreatedAt">UTC.</param>
    public sealed record Group(long VenueGroupId, string Name, long OwnerUserId, int VenueCount, DateTimeOffset CreatedAt);

    /// <summary>A page of groups.</summary>
    /// <param name="Items">Groups in id order.</param>
    /// <param name="NextAfterId">Pass as <c>after_id</c> for the next page; null on the last page.</param>
    public sealed record Page(IReadOnlyList<Group> Items, long? NextAfterId);

    /// <summary>The created group's id.</summary>
    /// <param name="VenueGroupId">The group id.</param>
    public sealed record Created(long VenueGroupId);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app)
    {
        app.MapPost("/venue-groups", CreateAsync)
            .DeclaresProblem(StatusCodes.Status409Conflict, "This owner already has a group with that name.")
            .RequireAuthorization(Roles.Organizer)
            .WithTags("Venues")
            .WithSummary("Create a venue group")
            .WithDescription("Organizers and admins. A cinema with its halls, an operator with its coaches. 400 names each invalid field; 409 when the name is taken.")
            .WithRequestExample(new { name = "Riverside Cinema" });
        app.MapGet("/venue-groups", ListAsync)
            .RequireAuthorization(Roles.Organizer)
            .WithTags("Venues")
            .WithSummary("List venue groups")
            .WithDescription("Organizers see their own groups; admins see every group, or one owner's with `owner_user_id`.")
            .Produces<Page>(StatusCodes.Status200OK)
            .AnswersWithETag();
        app.MapGet("/venue-groups/{venueGroupId:long}", GetAsync)
            .RequireAuthorization(Roles.Organizer)
            .WithTags("Venues")
            .WithSummary("Get a venue group")
            .WithDescription("Its owner and admins; 404 for anyone else. Its venues: `GET /venues?venue_group_id=`.");
    }

    internal static async Task<Results<Ok<Group>, ProblemHttpResult>> GetAsync(long venueGroupId, HttpContext http, NpgsqlDataSource db, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand(GroupSql);
        command.With("venue_group_id", venueGroupId).With("user_id", http.User.UserId()).With("is_admin", http.User.IsAdmin());
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? TypedResults.Ok(Read(reader)) : Problems.NotFound("Venue group");
    }

    private static Group Read(NpgsqlDataReader reader) =>
        new(reader.Get<long>("venue_group_id"), reader.Get<string>("name"), reader.Get<long>("owner_app_user_id"),
            reader.Get<int>("venue_count"), reader.Get<DateTimeOffset>("created_at"));

    internal static async Task<Results<Created<Created>, ValidationProblem, ProblemHttpResult>> CreateAsync(
        Request request, HttpContext http, NpgsqlDataSource db, TimeProvider time, CancellationToken cancellationToken)
    {
        var validation = new Validation()
            .Require(request.Name is { Length: >= 1 and <= 100 }, "name", "Required: 1 to 100 characters.")
            .Require(request.OwnerUserId is null || http.User.IsAdmin(), "owner_user_id", "Only admins create groups for someone else.");
        if (!validation.IsValid)
        {
            return validation.Problem();
        }

        var ownerId = request.OwnerUserId ?? http.User.UserId();
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using var command = new NpgsqlCommand("insert into venue_group (name, owner_app_user_id) values (@name, @owner_id) returning venue_group_id", connection);
        command.With("name", request.Name!).With("owner_id", ownerId);
        try
        {
            var id = (long)(await command.ExecuteScalarAsync(cancellationToken))!;
            await AuditLog.RecordAsync(connection, http.User.UserId(), "venue_group.created", "venue_group", id, null,
                new { request.Name, OwnerUserId = ownerId }, time.GetUtcNow(), cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            return TypedResults.Created($"/venue-groups/{id}", new Created(id));
        }
        catch (PostgresException ex) when (ex.ProblemFor(
            new OnConstraint("venue_group_name_owner_uq", () => Problems.Conflict("Group name taken.", "This owner already has a venue group with that name.")),
            new OnConstraint("venue_group_owner_fk", () => Problems.Field("owner_user_id", "No such user."))) is { } problem)
        {
            return problem;
        }
    }

    internal static async Task<IResult> ListAsync(
        [Description("Admins: only this organizer's groups."), FromQuery(Name = "owner_user_id")] long? ownerUserId,
        [Description("Name contains this (case-insensitive)."), MaxLength(100)] string? q,
        [Description("`next_after_id` of the previous page."), FromQuery(Name = "after_id")] long? afterId,
        [Description("Items per page (default 50)."), Range(1, MaxLimit)] int? limit,
        HttpContext http, NpgsqlDataSource db, IOptions<JsonOptions> json, CancellationToken cancellationToken)
    {
        var validation = new Validation()
            .Require(q is null or { Length: <= 100 }, "q", "At most 100 characters.")
            .Require(limit is null or (>= 1 and <= MaxLimit), "limit", $"Must be 1 to {MaxLimit}.");
        if (!validation.IsValid)
        {
            return validation.Problem();
        }

        await using var command = db.CreateCommand(ListSql);
        var size = limit ?? 50;
        command.With("owner", http.User.IsAdmin() ? ownerUserId : http.User.UserId()).With("like", Sql.ContainsPattern(q))
            .With("after_id", afterId ?? 0).With("limit", size + 1);
        var items = new List<Group>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            items.Add(Read(reader));
        }

        var page = items.Count > size ? new Page(items[..size], items[size - 1].VenueGroupId) : new Page(items, null);
        return ReadCache.WriteWithETag(http, JsonSerializer.SerializeToUtf8Bytes(page, json.Value.SerializerOptions));
    }

    private const string Columns = """
        select g.venue_group_id, g.name, g.owner_app_user_id, g.created_at,
               (select count(*)::int from venue v where v.venue_group_id = g.venue_group_id) as venue_count
        from venue_group g
        """;

    private const string GroupSql = Columns + "\nwhere g.venue_group_id = @venue_group_id and (g.owner_app_user_id = @user_id or @is_admin)";

    // An organizer's own groups (@owner is the caller), or for an admin every group or one owner's.
    private const string ListSql = Columns + """

        where g.venue_group_id > @after_id
          and (@owner::bigint is null or g.owner_app_user_id = @owner)
          and (@like::text is null or g.name ilike @like)
        order by g.venue_group_id
        limit @limit
        """;
}

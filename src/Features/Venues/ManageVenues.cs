using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Text.Json;
using Carter;
using Holdfast.Features.Inventory;
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
/// <c>GET /venues</c> (an organizer's own, or every venue for an admin; filtered, keyset-paged by id,
/// with an <c>ETag</c>), <c>PATCH /venues/{id}</c> (rename, move into or out of a group, archive or
/// restore) and <c>DELETE /venues/{id}</c> (only a venue no show ever used; a 409 counts what refers
/// to it). An archived venue keeps its shows, bookings and seat map but takes no new show
/// (<c>ShowScheduling</c> refuses with 409). Every change is audited.
/// </summary>
public sealed class ManageVenues : ICarterModule
{
    /// <summary>Most items per page.</summary>
    public const int MaxLimit = 200;

    /// <summary>A venue in a list (its seats: <c>GET /venues/{id}</c>).</summary>
    /// <param name="VenueId">The venue id.</param>
    /// <param name="Name">Its name, unique per owner.</param>
    /// <param name="Kind"><c>cinema_hall</c>, <c>coach</c> or <c>aircraft_cabin</c>.</param>
    /// <param name="CityId">Its city; null for a coach or a cabin.</param>
    /// <param name="OwnerUserId">The organizer who owns it; null for a shared venue.</param>
    /// <param name="VenueGroupId">The group it belongs to (a cinema, a fleet), if any.</param>
    /// <param name="ArchivedAt">UTC instant it was archived; null while it takes new shows.</param>
    /// <param name="SeatCount">Seats in its map.</param>
    /// <param name="CreatedAt">UTC.</param>
    public sealed record Venue(long VenueId, string Name, string Kind, long? CityId, long? OwnerUserId, long? VenueGroupId, DateTimeOffset? ArchivedAt,
        int SeatCount, DateTimeOffset CreatedAt);

    /// <summary>A page of venues.</summary>
    /// <param name="Items">Venues in id order.</param>
    /// <param name="NextAfterId">Pass as <c>after_id</c> for the next page; null on the last page.</param>
    public sealed record Page(IReadOnlyList<Venue> Items, long? NextAfterId);

    /// <summary>Changes to a venue; absent fields stay as they are.</summary>
    /// <param name="Name">1–100 characters, unique per owner.</param>
    /// <param name="VenueGroupId">A group of the venue's owner to join; 0 takes the venue out of its group.</param>
    /// <param name="Archived">True archives the venue (no new shows); false restores it.</param>
    public sealed record Change(string? Name, long? VenueGroupId, bool? Archived);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app)
    {
        app.MapGet("/venues", ListAsync)
            .RequireAuthorization(Roles.Organizer)
            .WithTags("Venues")
            .WithSummary("List venues")
            .WithDescription("Organizers see their own venues; admins see every venue, or one owner's with `owner_user_id`. Archived venues only with `archived=true`.")
            .Produces<Page>(StatusCodes.Status200OK)
            .AnswersWithETag();
        app.MapPatch("/venues/{venueId:long}", UpdateAsync)
            .DeclaresProblem(StatusCodes.Status409Conflict, "The owner already has a venue with that name.")
            .RequireAuthorization(Roles.Organizer)
            .WithTags("Venues")
            .WithSummary("Rename, group or archive a venue")
            .WithDescription("The owning organizer or an admin; 404 for anyone else. 204; 400 names each invalid field (a group of another owner included); " +
                             "409 when the name is taken. An archived venue keeps its shows but takes no new one.")
            .WithRequestExample(new { name = "Screen 2", archived = false });
        app.MapDelete("/venues/{venueId:long}", DeleteAsync)
            .DeclaresProblem(StatusCodes.Status409Conflict, "Shows still refer to the venue; `referenced_by` counts them. Archive it instead.")
            .RequireAuthorization(Roles.Organizer)
            .WithTags("Venues")
            .WithSummary("Delete a venue no show used")
            .WithDescription("The owning organizer or an admin; 404 for anyone else. 204, with its seat map; 409 when any show (even a cancelled one) refers to it.");
    }

    internal static async Task<IResult> ListAsync(
        [Description("Admins: only this organizer's venues."), FromQuery(Name = "owner_user_id")] long? ownerUserId,
        [Description("Only venues of this group."), FromQuery(Name = "venue_group_id")] long? venueGroupId,
        [Description("Only venues of this kind."), AllowedValues("cinema_hall", "coach", "aircraft_cabin", null)] string? kind,
        [Description("Only venues in this city."), FromQuery(Name = "city_id")] long? cityId,
        [Description("Name contains this (case-insensitive)."), MaxLength(100)] string? q,
        [Description("true: only archived venues; false (default): only venues taking shows.")] bool? archived,
        [Description("`next_after_id` of the previous page."), FromQuery(Name = "after_id")] long? afterId,
        [Description("Items per page (default 50)."), Range(1, MaxLimit)] int? limit,
        HttpContext http, NpgsqlDataSource db, IOptions<JsonOptions> json, CancellationToken cancellationToken)
    {
        var validation = new Validation()
            .Require(kind is null or "cinema_hall" or "coach" or "aircraft_cabin", "kind", "Must be cinema_hall, coach or aircraft_cabin.")
            .Require(q is null or { Length: <= 100 }, "q", "At most 100 characters.")
            .Require(limit is null or (>= 1 and <= MaxLimit), "limit", $"Must be 1 to {MaxLimit}.");
        if (!validation.IsValid)
        {
            return validation.Problem();
        }

        await using var command = db.CreateCommand(ListSql);
        var size = limit ?? 50;
        command.With("owner", http.User.IsAdmin() ? ownerUserId : http.User.UserId()).With("group", venueGroupId).With("kind", kind).With("city_id", cityId)
            .With("like", Sql.ContainsPattern(q)).With("archived", archived ?? false).With("after_id", afterId ?? 0).With("limit", size + 1);
        var items = new List<Venue>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            items.Add(new Venue(reader.Get<long>("venue_id"), reader.Get<string>("name"), reader.Get<string>("kind"), reader.Get<long?>("city_id"),
                reader.Get<long?>("owner_app_user_id"), reader.Get<long?>("venue_group_id"), reader.Get<DateTimeOffset?>("archived_at"),
                reader.Get<int>("seat_count"), reader.Get<DateTimeOffset>("created_at")));
        }

        var page = items.Count > size ? new Page(items[..size], items[size - 1].VenueId) : new Page(items, null);
        return ReadCache.WriteWithETag(http, JsonSerializer.SerializeToUtf8Bytes(page, json.Value.SerializerOptions));
    }

    internal static async Task<Results<NoContent, ValidationProblem, ProblemHttpResult>> UpdateAsync(
        long venueId, Change request, HttpContext http, NpgsqlDataSource db, TimeProvider time, CancellationToken cancellationToken)
    {
        var validation = new Validation()
            .Require(request.Name is null or { Length: >= 1 and <= 100 }, "name", "1 to 100 characters.")
            .Require(request.VenueGroupId is null or >= 0, "venue_group_id", "A group id, or 0 to leave the group.");
        if (!validation.IsValid)
        {
            return validation.Problem();
        }

        var now = time.GetUtcNow();
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using var command = new NpgsqlCommand(UpdateSql, connection);
        command.With("venue_id", venueId).With("user_id", http.User.UserId()).With("is_admin", http.User.IsAdmin()).With("name", request.Name)
            .With("group", request.VenueGroupId).With("archived", request.Archived).With("now", now);
        try
        {
            if (await command.ExecuteScalarAsync(cancellationToken) is not string before)
            {
                return Problems.NotFound("Venue");
            }

            var action = request.Archived switch { true => "venue.archived", false => "venue.restored", _ => "venue.updated" };
            await AuditLog.RecordAsync(connection, http.User.UserId(), action, "venue", venueId, JsonDocument.Parse(before).RootElement, request, now, cancellationToken);
            await ReadCache.NotifyCatalogueChangedAsync(connection, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            return TypedResults.NoContent();
        }
        catch (PostgresException ex) when (ex.ProblemFor(
            new OnConstraint("venue_name_owner_uq", () => Problems.Conflict("Venue name taken.", "The owner already has a venue with that name.")),
            new OnConstraint("venue_group_same_owner_fk", () => Problems.Field("venue_group_id", "No such group of this venue's owner."))) is { } problem)
        {
            return problem;
        }
    }

    // Deletes the seat map (through the inventory, its owner) and the venue, letting show_seat's seat
    // key and show_venue_fk decide: a show created at the same moment makes the delete fail rather
    // than slip past a check.
    internal static async Task<Results<NoContent, ProblemHttpResult>> DeleteAsync(
        long venueId, HttpContext http, NpgsqlDataSource db, TimeProvider time, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        try
        {
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            await using (var mine = new NpgsqlCommand(LockSql, connection))
            {
                mine.With("venue_id", venueId).With("user_id", http.User.UserId()).With("is_admin", http.User.IsAdmin());
                if (await mine.ExecuteScalarAsync(cancellationToken) is null)
                {
                    return Problems.NotFound("Venue");
                }
            }

            await SeatInventory.DeleteVenueSeatsAsync(connection, venueId, cancellationToken);
            await using var command = new NpgsqlCommand(DeleteSql, connection);
            command.With("venue_id", venueId);
            var before = (string)(await command.ExecuteScalarAsync(cancellationToken))!;
            await AuditLog.RecordAsync(connection, http.User.UserId(), "venue.deleted", "venue", venueId, JsonDocument.Parse(before).RootElement, null, time.GetUtcNow(), cancellationToken);
            await ReadCache.NotifyCatalogueChangedAsync(connection, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            return TypedResults.NoContent();
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.ForeignKeyViolation)
        {
            await using var count = new NpgsqlCommand(ReferencesSql, connection);
            count.With("venue_id", venueId);
            var shows = (long)(await count.ExecuteScalarAsync(cancellationToken))!;
            var referencedBy = new Dictionary<string, object?> { ["shows"] = shows };
            return Problems.Conflict("The venue is in use.",
                shows > 0 ? $"Still referred to by {shows} shows. Archive the venue instead." : "Still referred to by other records. Archive the venue instead.",
                new Dictionary<string, object?> { ["referenced_by"] = referencedBy });
        }
    }

    // An organizer's own venues (@owner is the caller), or for an admin every venue or one owner's.
    private const string ListSql = """
        select v.venue_id, v.name, v.kind, v.city_id, v.owner_app_user_id, v.venue_group_id, v.archived_at, v.created_at,
               (select count(*)::int from seat s where s.venue_id = v.venue_id) as seat_count
        from venue v
        where v.venue_id > @after_id
          and (@owner::bigint is null or v.owner_app_user_id = @owner)
          and (@group::bigint is null or v.venue_group_id = @group)
          and (@kind::text is null or v.kind = @kind)
          and (@city_id::bigint is null or v.city_id = @city_id)
          and (@like::text is null or v.name ilike @like)
          and (v.archived_at is not null) = @archived
        order by v.venue_id
        limit @limit
        """;

    // Returns the venue as it was (for the audit), or nothing when it is not the caller's. Archiving
    // keeps the first archived_at; venue_group_id 0 means no group. The row lock (FOR UPDATE) waits
    // for a show being scheduled on the venue (ShowScheduling reads it FOR SHARE), and it for us.
    private const string UpdateSql = """
        with before as (
          select v.venue_id, v.name, v.venue_group_id, v.archived_at from venue v
          where v.venue_id = @venue_id and (v.owner_app_user_id = @user_id or @is_admin)
          for update
        )
        update venue v
        set name = coalesce(@name, v.name),
            venue_group_id = case when @group::bigint is null then v.venue_group_id when @group = 0 then null else @group end,
            archived_at = case when @archived::boolean is null then v.archived_at when @archived then coalesce(v.archived_at, @now) else null end
        from before b where v.venue_id = b.venue_id
        returning json_build_object('name', b.name, 'venue_group_id', b.venue_group_id, 'archived_at', b.archived_at)::text
        """;

    // The caller's venue, locked until the delete commits (404 when it is not theirs).
    private const string LockSql = "select v.venue_id from venue v where v.venue_id = @venue_id and (v.owner_app_user_id = @user_id or @is_admin) for update";

    private const string DeleteSql = """
        delete from venue v where v.venue_id = @venue_id
        returning json_build_object('name', v.name, 'kind', v.kind, 'city_id', v.city_id, 'owner_user_id', v.owner_app_user_id, 'venue_group_id', v.venue_group_id)::text
        """;

    private const string ReferencesSql = "select count(*) from show where venue_id = @venue_id";
}

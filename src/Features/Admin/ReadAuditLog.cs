using System.ComponentModel.DataAnnotations;
using System.Text.Json;
using Carter;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Npgsql;

namespace Holdfast.Features.Admin;

/// <summary><c>GET /admin/audit</c>: admins page through the audit log, newest first, with filters.</summary>
public sealed class ReadAuditLog : ICarterModule
{
    /// <summary>One audit record.</summary>
    /// <param name="AuditLogId">Its id; pass the last one as <c>before_id</c> for the next page.</param>
    /// <param name="OccurredAt">UTC.</param>
    /// <param name="ActorUserId">Who; null for the system.</param>
    /// <param name="Action">E.g. <c>show.cancelled</c>.</param>
    /// <param name="Entity">E.g. <c>show</c>.</param>
    /// <param name="EntityId">Its id.</param>
    /// <param name="Before">State before, or null.</param>
    /// <param name="After">State after, or null.</param>
    public sealed record Entry(long AuditLogId, DateTimeOffset OccurredAt, long? ActorUserId, string Action, string Entity, long EntityId, JsonElement? Before, JsonElement? After);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app) =>
        app.MapGet("/admin/audit", HandleAsync)
            .RequireAuthorization(Roles.Admin)
            .WithTags("Admin")
            .WithSummary("Read the audit log")
            .WithDescription("Query: entity, entity_id, actor_user_id, action, from, to (UTC), limit (1–200, default 50), before_id (keyset). Admins only.");

    internal static async Task<Results<Ok<List<Entry>>, ValidationProblem>> HandleAsync(
        string? entity, [FromQuery(Name = "entity_id")] long? entityId, [FromQuery(Name = "actor_user_id")] long? actorUserId, string? action, DateTimeOffset? from, DateTimeOffset? to, [Range(1, 200)] int? limit, [FromQuery(Name = "before_id")] long? beforeId,
        NpgsqlDataSource db, CancellationToken cancellationToken)
    {
        var validation = new Validation().Require(limit is null or (>= 1 and <= 200), "limit", "Must be 1 to 200.");
        if (!validation.IsValid)
        {
            return validation.Problem();
        }

        await using var command = db.CreateCommand(ListSql);
        command.With("entity", entity);
        command.With("entity_id", entityId);
        command.With("actor", actorUserId);
        command.With("action", action);
        command.With("from", from?.ToUniversalTime());
        command.With("to", to?.ToUniversalTime());
        command.With("before_id", beforeId ?? long.MaxValue);
        command.With("limit", limit ?? 50);
        var entries = new List<Entry>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            entries.Add(new Entry(reader.Get<long>("audit_log_id"), reader.Get<DateTimeOffset>("occurred_at"), reader.Get<long?>("actor_user_id"),
                reader.Get<string>("action"), reader.Get<string>("entity"), reader.Get<long>("entity_id"),
                reader.Get<JsonElement?>("before"), reader.Get<JsonElement?>("after")));
        }

        return TypedResults.Ok(entries);
    }

    private const string ListSql = """
        select audit_log_id, occurred_at, actor_user_id, action, entity, entity_id, before, after
        from audit_log
        where audit_log_id < @before_id
          and (@entity::text is null or entity = @entity)
          and (@entity_id::bigint is null or entity_id = @entity_id)
          and (@actor::bigint is null or actor_user_id = @actor)
          and (@action::text is null or action = @action)
          and (@from::timestamptz is null or occurred_at >= @from)
          and (@to::timestamptz is null or occurred_at < @to)
        order by audit_log_id desc
        limit @limit
        """;
}

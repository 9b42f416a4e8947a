using System.Text.Json;
using Carter;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using NpgsqlTypes;

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
        string? entity, long? entityId, long? actorUserId, string? action, DateTimeOffset? from, DateTimeOffset? to, int? limit, long? beforeId,
        NpgsqlDataSource db, CancellationToken cancellationToken)
    {
        var validation = new Validation().Require(limit is null or (>= 1 and <= 200), "limit", "Must be 1 to 200.");
        if (!validation.IsValid)
        {
            return validation.Problem();
        }

        await using var command = db.CreateCommand(ListSql);
        command.Parameters.Add(new NpgsqlParameter("entity", NpgsqlDbType.Text) { Value = (object?)entity ?? DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter("entity_id", NpgsqlDbType.Bigint) { Value = (object?)entityId ?? DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter("actor", NpgsqlDbType.Bigint) { Value = (object?)actorUserId ?? DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter("action", NpgsqlDbType.Text) { Value = (object?)action ?? DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter("from", NpgsqlDbType.TimestampTz) { Value = (object?)from?.ToUniversalTime() ?? DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter("to", NpgsqlDbType.TimestampTz) { Value = (object?)to?.ToUniversalTime() ?? DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter<long>("before_id", beforeId ?? long.MaxValue));
        command.Parameters.Add(new NpgsqlParameter<int>("limit", limit ?? 50));
        var entries = new List<Entry>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            entries.Add(new Entry(reader.GetInt64(0), reader.GetFieldValue<DateTimeOffset>(1), reader.IsDBNull(2) ? null : reader.GetInt64(2),
                reader.GetString(3), reader.GetString(4), reader.GetInt64(5), Json(reader, 6), Json(reader, 7)));
        }

        return TypedResults.Ok(entries);
    }

    // Npgsql reads jsonb straight into a JsonElement.
    private static JsonElement? Json(NpgsqlDataReader reader, int column) =>
        reader.IsDBNull(column) ? null : reader.GetFieldValue<JsonElement>(column);

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

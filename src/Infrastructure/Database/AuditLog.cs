using System.Text.Json;
using Npgsql;
using NpgsqlTypes;

namespace Holdfast.Infrastructure.Database;

/// <summary>
/// Appends to <c>audit_log</c> (migration 0009) inside the caller's transaction, so an audit row
/// exists exactly when the change it describes committed. Hot paths write the same row from their
/// own SQL instead (see <c>BookHold</c>) to save the round trip.
/// </summary>
public static class AuditLog
{
    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    /// <summary>Records <paramref name="action"/> (e.g. <c>show.cancelled</c>) on <paramref name="entity"/> <paramref name="entityId"/>.</summary>
    /// <param name="connection">The connection whose transaction makes the change.</param>
    /// <param name="actorUserId">Who did it; null for the system.</param>
    /// <param name="action">Dotted verb, e.g. <c>venue.created</c>.</param>
    /// <param name="entity">Table name of what changed, e.g. <c>venue</c>.</param>
    /// <param name="entityId">Its id.</param>
    /// <param name="before">State before (serialized snake_case), or null when created.</param>
    /// <param name="after">State after, or null when deleted.</param>
    /// <param name="at">UTC instant of the change.</param>
    /// <param name="cancellationToken">Cancels the insert.</param>
    public static async Task RecordAsync(
        NpgsqlConnection connection, long? actorUserId, string action, string entity, long entityId, object? before, object? after,
        DateTimeOffset at, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(InsertSql, connection);
        command.With("at", at);
        command.With("actor", actorUserId);
        command.With("action", action);
        command.With("entity", entity);
        command.With("entity_id", entityId);
        command.With("before", before is null ? null : JsonSerializer.Serialize(before, Json), NpgsqlDbType.Jsonb);
        command.With("after", after is null ? null : JsonSerializer.Serialize(after, Json), NpgsqlDbType.Jsonb);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private const string InsertSql = """
        insert into audit_log (occurred_at, actor_user_id, action, entity, entity_id, before, after)
        values (@at, @actor, @action, @entity, @entity_id, @before, @after)
        """;
}

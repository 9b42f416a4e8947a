using Carter;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace Holdfast.Features.Accounts;

/// <summary>
/// <c>GET /auth/sessions</c> and <c>DELETE /auth/sessions/{id}</c>: the signed-in account's live
/// sessions (one per login, however often refreshed) and revoking one of them.
/// </summary>
public sealed class MySessions : ICarterModule
{
    /// <summary>A live session.</summary>
    /// <param name="SessionId">The session id (the <c>sid</c> claim of its access tokens).</param>
    /// <param name="StartedAt">UTC instant of the login.</param>
    /// <param name="LastRefreshedAt">UTC instant of the latest rotation (the login's, if never refreshed).</param>
    /// <param name="ExpiresAt">UTC instant its current refresh token expires.</param>
    /// <param name="Current">True for the session making this request.</param>
    public sealed record Session(Guid SessionId, DateTimeOffset StartedAt, DateTimeOffset LastRefreshedAt, DateTimeOffset ExpiresAt, bool Current);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app)
    {
        var auth = app.MapGroup("/auth").RequireAuthorization().WithTags("Accounts");
        auth.MapGet("/sessions", ListAsync).WithSummary("List my sessions").WithDescription("Newest first.");
        auth.MapDelete("/sessions/{sessionId:guid}", RevokeAsync)
            .WithSummary("Revoke one of my sessions")
            .WithDescription("204; 404 when it is not a live session of mine. Its access tokens are refused from then on.");
    }

    internal static async Task<Ok<List<Session>>> ListAsync(HttpContext http, NpgsqlDataSource db, TimeProvider time, CancellationToken cancellationToken)
    {
        var current = http.User.SessionId();
        await using var command = db.CreateCommand(ListSql);
        command.With("user_id", http.User.UserId());
        command.With("now", time.GetUtcNow());
        var sessions = new List<Session>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var id = reader.Get<Guid>("family_id");
            sessions.Add(new Session(id, reader.Get<DateTimeOffset>("started_at"), reader.Get<DateTimeOffset>("last_refreshed_at"),
                reader.Get<DateTimeOffset>("expires_at"), id == current));
        }

        return TypedResults.Ok(sessions);
    }

    internal static async Task<Results<NoContent, ProblemHttpResult>> RevokeAsync(
        Guid sessionId, HttpContext http, NpgsqlDataSource db, SessionGate gate, TimeProvider time, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand(RevokeSql);
        command.With("family_id", sessionId);
        command.With("user_id", http.User.UserId());
        command.With("now", time.GetUtcNow());
        if (await command.ExecuteNonQueryAsync(cancellationToken) == 0)
        {
            return Problems.NotFound("Session");
        }

        gate.Forget(http.User.UserId());
        return TypedResults.NoContent();
    }

    // A session is live while its family has an unrevoked, unexpired, unspent token.
    private const string ListSql = """
        select family_id, min(created_at) as started_at, max(created_at) as last_refreshed_at,
               max(expires_at) filter (where used_at is null) as expires_at
        from refresh_token
        where app_user_id = @user_id
        group by family_id
        having bool_and(revoked_at is null) and bool_or(used_at is null and expires_at > @now)
        order by min(created_at) desc
        """;

    private const string RevokeSql = """
        update refresh_token set revoked_at = @now
        where family_id = @family_id and app_user_id = @user_id and revoked_at is null
        """;
}

using Carter;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Database;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace Holdfast.Features.Accounts;

/// <summary>
/// <c>POST /auth/logout</c>: ends the session the refresh token belongs to (its whole family).
/// Always 204, so the endpoint reveals nothing about which tokens exist. The session's access
/// tokens are refused from then on (<see cref="SessionGate"/>).
/// </summary>
public sealed class Logout : ICarterModule
{
    /// <summary>The session's current refresh token.</summary>
    public sealed record Request(string? RefreshToken);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app) =>
        app.MapPost("/auth/logout", HandleAsync)
            .WithTags("Accounts")
            .WithSummary("Log out (revoke the session of a refresh token)")
            .WithDescription("Always 204.");

    internal static async Task<NoContent> HandleAsync(Request request, NpgsqlDataSource db, SessionGate gate, TimeProvider time, CancellationToken cancellationToken)
    {
        if (Sessions.HashOf(request.RefreshToken) is { } hash)
        {
            await using var command = db.CreateCommand(RevokeSql);
            command.With("token_hash", hash);
            command.With("now", time.GetUtcNow());
            if (await command.ExecuteScalarAsync(cancellationToken) is long userId)
            {
                gate.Forget(userId);
            }
        }

        return TypedResults.NoContent();
    }

    // The account, so this node forgets the session at once (the trigger tells the others).
    private const string RevokeSql = """
        update refresh_token set revoked_at = @now
        where revoked_at is null
          and family_id = (select family_id from refresh_token where token_hash = @token_hash)
        returning app_user_id
        """;
}

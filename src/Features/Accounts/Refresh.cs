using Carter;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Holdfast.Features.Accounts;

/// <summary>
/// <c>POST /auth/refresh</c>: exchanges a refresh token for a new access token and a new refresh
/// token (rotation, RFC 6749 §6 and OAuth 2.0 Security BCP §4.14). The presented token is spent.
/// Presenting a spent token again revokes its whole family: whoever holds the newer one, the
/// thief or the owner, must log in again (RFC 6819 §5.2.2.3).
/// </summary>
public sealed class Refresh : ICarterModule
{
    /// <summary>The refresh token from login, registration or the last refresh.</summary>
    public sealed record Request(string? RefreshToken);

    private sealed record Presented(long RefreshTokenId, long AppUserId, Guid FamilyId, DateTime ExpiresAt, bool Used, bool Revoked, bool Disabled, string Email, string Role);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app) =>
        app.MapPost("/auth/refresh", HandleAsync)
            .WithRequestExample(new { refresh_token = "the refresh_token from /auth/login" })
            .DeclaresProblem(StatusCodes.Status401Unauthorized, "The refresh token is unknown, expired, already used (the session is then ended), its session ended, or the account is disabled.")
            .RequireRateLimiting(RateLimiting.Auth)
            .WithTags("Accounts")
            .WithSummary("Rotate a refresh token")
            .WithDescription("200 with a new token pair. 401 when the token is unknown, expired, revoked, or already used " +
                             "(reuse revokes every token of that session).");

    internal static async Task<Results<Ok<TokenPair>, ValidationProblem, ProblemHttpResult>> HandleAsync(
        Request request, NpgsqlDataSource db, TokenIssuer tokens, IOptions<SessionOptions> sessions, SessionGate gate, TimeProvider time,
        CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(request.RefreshToken))
        {
            return new Validation().Add("refresh_token", "Required.").Problem();
        }

        var hash = Sessions.HashOf(request.RefreshToken);
        if (hash is null)
        {
            return Unauthorized("The refresh token is not valid.");
        }

        var now = time.GetUtcNow();
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var presented = await LockAsync(connection, hash, cancellationToken);
        if (presented is null || presented.Revoked || presented.Disabled || presented.ExpiresAt <= now.UtcDateTime)
        {
            return Unauthorized("The refresh token is not valid.");
        }

        if (presented.Used)
        {
            await using var revoke = new NpgsqlCommand(RevokeFamilySql, connection);
            revoke.With("family_id", presented.FamilyId);
            revoke.With("now", now);
            await revoke.ExecuteNonQueryAsync(cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            gate.Forget(presented.AppUserId);
            return Unauthorized("This refresh token was already used, so the session has been revoked. Log in again.");
        }

        await using (var spend = new NpgsqlCommand(SpendSql, connection))
        {
            spend.With("refresh_token_id", presented.RefreshTokenId);
            spend.With("now", now);
            await spend.ExecuteNonQueryAsync(cancellationToken);
        }

        var pair = await Sessions.IssueAsync(connection, presented.AppUserId, presented.Email, presented.Role, presented.FamilyId, tokens, sessions.Value, now, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return TypedResults.Ok(pair);
    }

    private static ProblemHttpResult Unauthorized(string detail) =>
        Problems.Unauthorized("Refresh refused.", detail);

    private static async Task<Presented?> LockAsync(NpgsqlConnection connection, byte[] hash, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(LockSql, connection);
        command.With("token_hash", hash);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }

        return new Presented(reader.Get<long>("refresh_token_id"), reader.Get<long>("app_user_id"), reader.Get<Guid>("family_id"),
            reader.Get<DateTime>("expires_at"), reader.Get<bool>("used"), reader.Get<bool>("revoked"), reader.Get<bool>("disabled"), reader.Get<string>("email"), reader.Get<string>("role"));
    }

    // The row lock makes two concurrent uses of one token a replay for the second, never two rotations.
    private const string LockSql = """
        select t.refresh_token_id, t.app_user_id, t.family_id, t.expires_at, t.used_at is not null as used, t.revoked_at is not null as revoked,
               u.disabled_at is not null as disabled, u.email, u.role
        from refresh_token t
        join app_user u on u.app_user_id = t.app_user_id
        where t.token_hash = @token_hash
        for update of t
        """;

    private const string SpendSql = "update refresh_token set used_at = @now where refresh_token_id = @refresh_token_id";

    private const string RevokeFamilySql = """
        update refresh_token set revoked_at = @now where family_id = @family_id and revoked_at is null
        """;
}

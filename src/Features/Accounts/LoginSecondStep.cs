using Carter;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Holdfast.Features.Accounts;

/// <summary>
/// <c>POST /auth/login/2fa</c>: the second step of a login for an account with two-factor
/// authentication: the MFA token from <c>POST /auth/login</c> plus a TOTP code or a recovery code.
/// </summary>
public sealed class LoginSecondStep : ICarterModule
{
    /// <summary>The challenge token and one second factor.</summary>
    public sealed record Request(string? MfaToken, string? Code, string? RecoveryCode);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app) =>
        app.MapPost("/auth/login/2fa", HandleAsync)
            .DeclaresProblem(StatusCodes.Status401Unauthorized, "The second factor is refused: a wrong or reused code, or an expired or unknown `mfa_token`.")
            .RequireRateLimiting(RateLimiting.Auth)
            .WithTags("Accounts")
            .WithSummary("Finish a two-factor login")
            .WithDescription("200 with a token pair; 401 when the MFA token is invalid or expired, or the code is wrong or already used.");

    internal static async Task<Results<Ok<TokenPair>, ProblemHttpResult>> HandleAsync(
        Request request, NpgsqlDataSource db, TokenIssuer tokens, IOptions<SessionOptions> sessions, TimeProvider time, CancellationToken cancellationToken)
    {
        if (await tokens.ValidateMfaChallengeAsync(request.MfaToken) is not { } userId)
        {
            return Refused("The MFA token is invalid or expired; log in again.");
        }

        var now = time.GetUtcNow();
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var state = await TwoFactor.LockAsync(connection, userId, cancellationToken);
        if (!state.Enabled || !await TwoFactor.SecondFactorAsync(connection, userId, state, request.Code, request.RecoveryCode, now, cancellationToken))
        {
            return Refused("The code is wrong or was already used.");
        }

        var pair = await Sessions.IssueAsync(connection, userId, state.Email, state.Role, Guid.NewGuid(), tokens, sessions.Value, now, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return TypedResults.Ok(pair);
    }

    private static ProblemHttpResult Refused(string detail) =>
        Problems.Unauthorized("Second factor refused.", detail);
}

using Dapper;
using Holdfast.Infrastructure;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Holdfast.Features.Accounts;

/// <summary><c>POST /auth/login</c>: exchanges email and password for a JWT access token and a refresh token (a new session).</summary>
public sealed class Login : ICarterModule
{
    /// <summary>Credentials.</summary>
    public sealed record Request(string? Email, string? Password);

    /// <summary>The password was right and the account has two-factor authentication: send a code to <c>POST /auth/login/2fa</c>.</summary>
    /// <param name="MfaRequired">Always true.</param>
    /// <param name="MfaToken">Proof of the password step, valid 5 minutes.</param>
    /// <param name="ExpiresAt">UTC instant the MFA token expires.</param>
    public sealed record MfaChallenge(bool MfaRequired, string MfaToken, DateTimeOffset ExpiresAt);

    private sealed record Account(long AppUserId, string Email, string? PasswordHash, string Role, bool TotpEnabled);

    // Verified when the email is unknown, so an unknown email costs the same time as a wrong password.
    private static readonly string DummyHash = new PasswordHasher<PasswordOwner>().HashPassword(new PasswordOwner(), "not-a-real-password");

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app) =>
        app.MapPost("/auth/login", HandleAsync)
            .RequireRateLimiting(RateLimiting.Auth)
            .WithTags("Accounts")
            .WithSummary("Log in and get an access token")
            .WithDescription("200 with a token pair, or {mfa_required, mfa_token} when the account has two-factor authentication " +
                             "(finish at POST /auth/login/2fa). 401 with one message for an unknown email and a wrong password alike.");

    internal static async Task<Results<Ok<TokenPair>, Ok<MfaChallenge>, ValidationProblem, ProblemHttpResult>> HandleAsync(
        Request request,
        NpgsqlDataSource db,
        IPasswordHasher<PasswordOwner> hasher,
        TokenIssuer tokens,
        IOptions<SessionOptions> sessions,
        TimeProvider time,
        CancellationToken cancellationToken)
    {
        var validation = new Validation()
            .Require(!string.IsNullOrWhiteSpace(request.Email), "email", "Required.")
            .Require(!string.IsNullOrEmpty(request.Password), "password", "Required.");
        if (!validation.IsValid)
        {
            return validation.Problem();
        }

        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        var account = await connection.QuerySingleOrDefaultAsync<Account>(new CommandDefinition(
            FindSql, new { email = request.Email!.Trim() }, cancellationToken: cancellationToken));
        var verdict = hasher.VerifyHashedPassword(new PasswordOwner(), account?.PasswordHash ?? DummyHash, request.Password!);
        if (account?.PasswordHash is null || verdict == PasswordVerificationResult.Failed)
        {
            return TypedResults.Problem(title: "Email or password is incorrect.", statusCode: StatusCodes.Status401Unauthorized);
        }

        if (account.TotpEnabled)
        {
            var challenge = tokens.IssueMfaChallenge(account.AppUserId, time.GetUtcNow());
            return TypedResults.Ok(new MfaChallenge(true, challenge.AccessToken, challenge.ExpiresAt));
        }

        var pair = await Sessions.IssueAsync(connection, account.AppUserId, account.Email, account.Role, Guid.NewGuid(), tokens, sessions.Value,
            time.GetUtcNow(), cancellationToken);
        return TypedResults.Ok(pair);
    }

    private const string FindSql = """
        select app_user_id, email, password_hash, role, totp_enabled_at is not null as totp_enabled
        from app_user
        where lower(email) = lower(@email)
        """;
}

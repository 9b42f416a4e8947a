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

    private sealed record Account(long AppUserId, string Email, string? PasswordHash, string Role);

    // Verified when the email is unknown, so an unknown email costs the same time as a wrong password.
    private static readonly string DummyHash = new PasswordHasher<PasswordOwner>().HashPassword(new PasswordOwner(), "not-a-real-password");

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app) =>
        app.MapPost("/auth/login", HandleAsync)
            .WithTags("Accounts")
            .WithSummary("Log in and get an access token")
            .WithDescription("401 with one message for an unknown email and a wrong password alike.");

    internal static async Task<Results<Ok<TokenPair>, ValidationProblem, ProblemHttpResult>> HandleAsync(
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

        var pair = await Sessions.IssueAsync(connection, account.AppUserId, account.Email, account.Role, Guid.NewGuid(), tokens, sessions.Value,
            time.GetUtcNow(), cancellationToken);
        return TypedResults.Ok(pair);
    }

    private const string FindSql = """
        select app_user_id, email, password_hash, role
        from app_user
        where lower(email) = lower(@email)
        """;
}

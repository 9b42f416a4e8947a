using Dapper;
using Holdfast.Infrastructure;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Identity;
using Npgsql;

namespace Holdfast.Features.Accounts;

/// <summary><c>POST /auth/login</c>: exchanges email and password for a JWT access token.</summary>
public sealed class Login : ICarterModule
{
    /// <summary>Credentials.</summary>
    public sealed record Request(string? Email, string? Password);

    /// <summary>An OAuth-style bearer token response.</summary>
    /// <param name="AccessToken">JWT (HS256) carrying <c>sub</c>, <c>email</c>, <c>role</c>.</param>
    /// <param name="TokenType">Always <c>Bearer</c>.</param>
    /// <param name="ExpiresIn">Seconds until the token expires.</param>
    /// <param name="ExpiresAt">UTC instant the token expires.</param>
    /// <param name="UserId">The account id.</param>
    /// <param name="Role">admin, organizer or customer.</param>
    public sealed record Response(string AccessToken, string TokenType, int ExpiresIn, DateTimeOffset ExpiresAt, long UserId, string Role);

    private sealed record Account(long AppUserId, string Email, string? PasswordHash, string Role);

    // Verified when the email is unknown, so an unknown email costs the same time as a wrong password.
    private static readonly string DummyHash = new PasswordHasher<PasswordOwner>().HashPassword(new PasswordOwner(), "not-a-real-password");

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app) =>
        app.MapPost("/auth/login", HandleAsync)
            .WithTags("Accounts")
            .WithSummary("Log in and get an access token")
            .WithDescription("401 with one message for an unknown email and a wrong password alike.");

    internal static async Task<Results<Ok<Response>, ValidationProblem, ProblemHttpResult>> HandleAsync(
        Request request,
        NpgsqlDataSource db,
        IPasswordHasher<PasswordOwner> hasher,
        TokenIssuer tokens,
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

        var now = time.GetUtcNow();
        var token = tokens.Issue(account.AppUserId, account.Email, account.Role, now);
        return TypedResults.Ok(new Response(token.AccessToken, "Bearer", (int)(token.ExpiresAt - now).TotalSeconds, token.ExpiresAt, account.AppUserId, account.Role));
    }

    private const string FindSql = """
        select app_user_id, email, password_hash, role
        from app_user
        where lower(email) = lower(@email)
        """;
}

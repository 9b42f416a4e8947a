using System.Net.Mail;
using Carter;
using Holdfast.Features.Jobs;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Holdfast.Infrastructure.Jobs;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Holdfast.Features.Accounts;

/// <summary><c>POST /auth/register</c>: creates a customer account and signs it in.</summary>
public sealed class Register : ICarterModule
{
    /// <summary>The new account's email (unique, case-insensitive), password and display name.</summary>
    public sealed record Request(string? Email, string? Password, string? DisplayName);

    /// <summary>The account and a session for it.</summary>
    /// <param name="UserId">The account id.</param>
    /// <param name="Email">As registered.</param>
    /// <param name="Role">Always <c>customer</c> for self-registration.</param>
    /// <param name="AccessToken">JWT bearer token.</param>
    /// <param name="ExpiresAt">UTC instant the access token expires.</param>
    /// <param name="RefreshToken">Opaque, single-use; exchange at <c>POST /auth/refresh</c>.</param>
    /// <param name="RefreshExpiresAt">UTC instant the refresh token expires.</param>
    public sealed record Response(long UserId, string Email, string Role, string AccessToken, DateTimeOffset ExpiresAt, string RefreshToken, DateTimeOffset RefreshExpiresAt);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app) =>
        app.MapPost("/auth/register", HandleAsync)
            .WithRequestExample(new { email = "ada@example.com", password = "correct horse battery staple", display_name = "Ada Lovelace" })
            .DeclaresProblem(StatusCodes.Status409Conflict, "An account with this email exists.")
            .RequireRateLimiting(RateLimiting.Auth)
            .WithTags("Accounts")
            .WithSummary("Register a customer account")
            .WithDescription("400 names each invalid field; 409 when the email is already registered (case-insensitive).");

    internal static async Task<Results<Created<Response>, ValidationProblem, ProblemHttpResult>> HandleAsync(
        Request request,
        NpgsqlDataSource db,
        IPasswordHasher<PasswordOwner> hasher,
        TokenIssuer tokens,
        IOptions<SessionOptions> sessions,
        JobOutbox outbox,
        TimeProvider time,
        CancellationToken cancellationToken)
    {
        var email = request.Email?.Trim() ?? "";
        var weakPassword = PasswordPolicy.Check(request.Password, email);
        var validation = new Validation()
            .Require(IsEmail(email), "email", "Must be an email address such as ana@example.com.")
            .Require(weakPassword is null, "password", weakPassword ?? "")
            .Require(request.DisplayName is null || request.DisplayName.Trim().Length is >= 1 and <= 100, "display_name",
                "Must be 1 to 100 characters long when given.");
        if (!validation.IsValid)
        {
            return validation.Problem();
        }

        var displayName = request.DisplayName?.Trim() is { Length: > 0 } name ? name : email[..email.IndexOf('@', StringComparison.Ordinal)];
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        try
        {
            long userId;
            await using (var insert = new NpgsqlCommand(InsertSql, connection))
            {
                insert.With("email", email);
                insert.With("display_name", displayName);
                insert.With("password_hash", hasher.HashPassword(new PasswordOwner(), request.Password!));
                userId = (long)(await insert.ExecuteScalarAsync(cancellationToken))!;
            }

            var pair = await Sessions.IssueAsync(connection, userId, email, Roles.Customer, Guid.NewGuid(), tokens, sessions.Value, time.GetUtcNow(), cancellationToken);
            await outbox.EnqueueAsync(connection, EmailArgs.Welcome(userId), cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            return TypedResults.Created($"/users/{userId}",
                new Response(userId, email, Roles.Customer, pair.AccessToken, pair.ExpiresAt, pair.RefreshToken, pair.RefreshExpiresAt));
        }
        catch (PostgresException ex) when (ex.ProblemFor(
            new OnConstraint("app_user_email_uq", () => Problems.Conflict("Email already registered.", "An account with this email exists; log in instead."))) is { } problem)
        {
            return problem;
        }
    }

    /// <summary>
    /// True for a single plain address of 3–254 characters whose domain has a dot, as
    /// <see cref="MailAddress"/> parses it with nothing left over (no display name).
    /// </summary>
    internal static bool IsEmail(string value) =>
        value.Length is >= 3 and <= 254
        && MailAddress.TryCreate(value, out var address)
        && address.Address == value
        && address.Host.Contains('.', StringComparison.Ordinal);

    private const string InsertSql = """
        insert into app_user (email, display_name, password_hash, role)
        values (@email, @display_name, @password_hash, 'customer')
        returning app_user_id
        """;
}

using Carter;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Identity;
using Npgsql;

namespace Holdfast.Features.Accounts;

/// <summary>
/// <c>POST /auth/password</c>: changes the signed-in account's password and revokes every other
/// session, so a password changed because it leaked also locks out whoever used it.
/// </summary>
public sealed class ChangePassword : ICarterModule
{
    /// <summary>The current password (proof of presence) and the new one.</summary>
    public sealed record Request(string? CurrentPassword, string? NewPassword);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app) =>
        app.MapPost("/auth/password", HandleAsync)
            .RequireAuthorization()
            .WithTags("Accounts")
            .WithSummary("Change my password")
            .WithDescription("204; every session but this one is revoked. 400 when current_password is wrong or new_password fails the policy.");

    internal static async Task<Results<NoContent, ValidationProblem>> HandleAsync(
        Request request, HttpContext http, NpgsqlDataSource db, IPasswordHasher<PasswordOwner> hasher, SessionGate gate, TimeProvider time,
        CancellationToken cancellationToken)
    {
        var weakPassword = PasswordPolicy.Check(request.NewPassword, http.User.FindFirst("email")?.Value);
        var validation = new Validation()
            .Require(!string.IsNullOrEmpty(request.CurrentPassword), "current_password", "Required.")
            .Require(weakPassword is null, "new_password", weakPassword ?? "");
        if (!validation.IsValid)
        {
            return validation.Problem();
        }

        var userId = http.User.UserId();
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        string? hash;
        await using (var read = new NpgsqlCommand(LockUserSql, connection))
        {
            read.With("user_id", userId);
            hash = await read.ExecuteScalarAsync(cancellationToken) as string;
        }

        if (hash is null || hasher.VerifyHashedPassword(new PasswordOwner(), hash, request.CurrentPassword!) == PasswordVerificationResult.Failed)
        {
            return new Validation().Add("current_password", "Incorrect.").Problem();
        }

        await using (var update = new NpgsqlCommand(UpdateSql, connection))
        {
            update.With("user_id", userId);
            update.With("password_hash", hasher.HashPassword(new PasswordOwner(), request.NewPassword!));
            update.With("current_session", http.User.SessionId());
            update.With("now", time.GetUtcNow());
            await update.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        gate.Forget(userId);
        return TypedResults.NoContent();
    }

    private const string LockUserSql = "select password_hash from app_user where app_user_id = @user_id for update";

    private const string UpdateSql = """
        update app_user set password_hash = @password_hash where app_user_id = @user_id;
        update refresh_token set revoked_at = @now
        where app_user_id = @user_id and revoked_at is null
          and family_id is distinct from @current_session;
        """;
}

using Carter;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace Holdfast.Features.Accounts;

/// <summary>
/// <c>GET /users/{id}</c>: an account, where <c>POST /auth/register</c>'s <c>Location</c> points.
/// The account itself and admins may read it; anyone else gets 404, as for an account that does not exist.
/// </summary>
public sealed class GetAccount : ICarterModule
{
    /// <summary>An account.</summary>
    /// <param name="UserId">The account id.</param>
    /// <param name="Email">Login email, as registered.</param>
    /// <param name="DisplayName">Shown name.</param>
    /// <param name="Role"><c>admin</c>, <c>organizer</c> or <c>customer</c>.</param>
    /// <param name="TwoFactorEnabled">True when logins need a second factor (TOTP).</param>
    /// <param name="CreatedAt">UTC.</param>
    public sealed record Response(long UserId, string Email, string DisplayName, string Role, bool TwoFactorEnabled, DateTimeOffset CreatedAt);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app) =>
        app.MapGet("/users/{userId:long}", HandleAsync)
            .RequireAuthorization()
            .WithTags("Accounts")
            .WithSummary("Get an account")
            .WithDescription("The account itself, or an admin; 404 for anyone else.");

    internal static async Task<Results<Ok<Response>, ProblemHttpResult>> HandleAsync(long userId, HttpContext http, NpgsqlDataSource db, CancellationToken cancellationToken)
    {
        if (userId != http.User.UserId() && !http.User.IsAdmin())
        {
            return Problems.NotFound("User");
        }

        await using var command = db.CreateCommand("""
            select app_user_id, email, display_name, role, totp_enabled_at is not null as two_factor_enabled, created_at
            from app_user where app_user_id = @user_id
            """);
        command.With("user_id", userId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? TypedResults.Ok(new Response(reader.Get<long>("app_user_id"), reader.Get<string>("email"), reader.Get<string>("display_name"),
                reader.Get<string>("role"), reader.Get<bool>("two_factor_enabled"), reader.Get<DateTimeOffset>("created_at")))
            : Problems.NotFound("User");
    }
}

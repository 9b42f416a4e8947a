using System.ComponentModel.DataAnnotations;
using Carter;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Npgsql;

namespace Holdfast.Features.Admin;

/// <summary>
/// <c>GET /admin/users</c>, <c>PUT /admin/users/{id}/role</c> and <c>PUT /admin/users/{id}/disabled</c>:
/// admins find accounts, set their role, and disable or enable them. A role change revokes the
/// account's sessions, and its access tokens are refused at once (<see cref="SessionGate"/>): the
/// account signs in again and gets a token with the new role. A disabled account cannot sign in by
/// any means (password, refresh, identity provider; decision 0027) and its sessions are revoked.
/// </summary>
public sealed class ManageUsers : ICarterModule
{
    /// <summary>An account as admins see it.</summary>
    /// <param name="UserId">The account id.</param>
    /// <param name="Email">Login email.</param>
    /// <param name="DisplayName">Shown name.</param>
    /// <param name="Role">admin, organizer or customer.</param>
    /// <param name="CreatedAt">UTC.</param>
    /// <param name="DisabledAt">UTC instant it was disabled; null while it may sign in.</param>
    public sealed record User(long UserId, string Email, string DisplayName, string Role, DateTimeOffset CreatedAt, DateTimeOffset? DisabledAt);

    /// <summary>The new role.</summary>
    public sealed record RoleRequest(string? Role);

    /// <summary>Whether the account is disabled.</summary>
    /// <param name="Disabled">True: it cannot sign in and its sessions end; false: it may sign in again.</param>
    public sealed record DisabledRequest(bool? Disabled);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app)
    {
        var admin = app.MapGroup("/admin").RequireAuthorization(Roles.Admin).WithTags("Admin");
        admin.MapGet("/users", ListAsync).WithSummary("Find accounts")
            .WithDescription("Query: email (contains, case-insensitive), role, limit (1–100, default 50), after_id (keyset). Admins only.");
        admin.MapPut("/users/{userId:long}/role", SetRoleAsync).DeclaresProblem(StatusCodes.Status409Conflict, "An admin cannot demote themself.").WithSummary("Set an account's role")
            .WithDescription("200 with the account; 400 for an unknown role; 404 for an unknown account; 409 when an admin demotes themself. Admins only.");
        admin.MapPut("/users/{userId:long}/disabled", SetDisabledAsync)
            .WithRequestExample(new { disabled = true })
            .DeclaresProblem(StatusCodes.Status409Conflict, "An admin cannot disable themself.")
            .WithSummary("Disable or enable an account")
            .WithDescription("disabled=true: the account cannot sign in by any means (password, refresh, identity provider), its sessions are revoked " +
                             "and its access tokens are refused at once; false: it may sign in again (with a new login). Audited when it changes; " +
                             "setting the state it already has changes nothing. 200 with the account; 400 without disabled; 404 for an unknown account; " +
                             "409 when an admin disables themself. Admins only.");
    }

    internal static async Task<Results<Ok<List<User>>, ValidationProblem>> ListAsync(
        string? email, [AllowedValues("admin", "organizer", "customer", null)] string? role, [Range(1, 100)] int? limit, [FromQuery(Name = "after_id")] long? afterId, NpgsqlDataSource db, CancellationToken cancellationToken)
    {
        var validation = new Validation()
            .Require(role is null or Roles.Admin or Roles.Organizer or Roles.Customer, "role", "Must be admin, organizer or customer.")
            .Require(limit is null or (>= 1 and <= 100), "limit", "Must be 1 to 100.");
        if (!validation.IsValid)
        {
            return validation.Problem();
        }

        await using var command = db.CreateCommand(ListSql);
        command.With("pattern", Sql.ContainsPattern(email));
        command.With("role", role);
        command.With("after_id", afterId ?? 0);
        command.With("limit", limit ?? 50);
        var users = new List<User>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            users.Add(ReadUser(reader));
        }

        return TypedResults.Ok(users);
    }

    internal static async Task<Results<Ok<User>, ValidationProblem, ProblemHttpResult>> SetRoleAsync(
        long userId, RoleRequest request, HttpContext http, NpgsqlDataSource db, SessionGate gate, TimeProvider time,
        CancellationToken cancellationToken)
    {
        if (request.Role is not (Roles.Admin or Roles.Organizer or Roles.Customer))
        {
            return new Validation().Add("role", "Must be admin, organizer or customer.").Problem();
        }

        if (userId == http.User.UserId() && request.Role != Roles.Admin)
        {
            return Problems.Conflict("Cannot demote yourself.", "Ask another admin, so the system always keeps one.");
        }

        await using var command = db.CreateCommand(SetRoleSql);
        command.With("user_id", userId).With("role", request.Role).With("now", time.GetUtcNow()).With("actor_id", http.User.UserId());
        return await ChangeAsync(command, userId, gate, cancellationToken);
    }

    internal static async Task<Results<Ok<User>, ValidationProblem, ProblemHttpResult>> SetDisabledAsync(
        long userId, DisabledRequest request, HttpContext http, NpgsqlDataSource db, SessionGate gate, TimeProvider time,
        CancellationToken cancellationToken)
    {
        if (request.Disabled is not { } disabled)
        {
            return new Validation().Add("disabled", "Required: true or false.").Problem();
        }

        if (disabled && userId == http.User.UserId())
        {
            return Problems.Conflict("Cannot disable yourself.", "Ask another admin, so the system always keeps one who can sign in.");
        }

        await using var command = db.CreateCommand(SetDisabledSql);
        command.With("user_id", userId).With("disabled", disabled).With("now", time.GetUtcNow()).With("actor_id", http.User.UserId());
        return await ChangeAsync(command, userId, gate, cancellationToken);
    }

    // Runs a change of one account that returns its row (none: no such account), then drops the
    // account from this node's session gate (other nodes hear of it through the database's
    // notification), so the change applies to its tokens at once.
    private static async Task<Results<Ok<User>, ValidationProblem, ProblemHttpResult>> ChangeAsync(
        NpgsqlCommand command, long userId, SessionGate gate, CancellationToken cancellationToken)
    {
        User user;
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            if (!await reader.ReadAsync(cancellationToken))
            {
                return Problems.NotFound("User");
            }

            user = ReadUser(reader);
        }

        gate.Forget(userId);
        return TypedResults.Ok(user);
    }

    private static User ReadUser(NpgsqlDataReader reader) =>
        new(reader.Get<long>("app_user_id"), reader.Get<string>("email"), reader.Get<string>("display_name"), reader.Get<string>("role"),
            reader.Get<DateTimeOffset>("created_at"), reader.Get<DateTimeOffset?>("disabled_at"));

    private const string ListSql = """
        select app_user_id, email, display_name, role, created_at, disabled_at
        from app_user
        where (@pattern::text is null or email ilike @pattern)
          and (@role::text is null or role = @role)
          and app_user_id > @after_id
        order by app_user_id
        limit @limit
        """;

    private const string SetRoleSql = """
        with previous as (
          select app_user_id, role from app_user where app_user_id = @user_id for update
        ), changed as (
          update app_user u set role = @role from previous p where u.app_user_id = p.app_user_id
          returning u.app_user_id, u.email, u.display_name, u.role, u.created_at, u.disabled_at
        ), audited as (
          insert into audit_log (occurred_at, actor_user_id, action, entity, entity_id, before, after)
          select @now, @actor_id, 'user.role_changed', 'app_user', p.app_user_id, jsonb_build_object('role', p.role), jsonb_build_object('role', @role)
          from previous p
        ), revoked as (
          update refresh_token set revoked_at = @now
          where app_user_id in (select app_user_id from changed) and revoked_at is null
        )
        select app_user_id, email, display_name, role, created_at, disabled_at from changed
        """;

    // The row is locked first, so two admins' concurrent changes are audited one after the other.
    // A repeated disable keeps the first instant; only a real change is audited. Disabling revokes
    // the refresh tokens (an enabled account signs in afresh); the app_user trigger of migration
    // 0035 tells every node's session gate, so access tokens stop at once.
    private const string SetDisabledSql = """
        with previous as (
          select app_user_id, disabled_at from app_user where app_user_id = @user_id for update
        ), changed as (
          update app_user u set disabled_at = case when @disabled then coalesce(p.disabled_at, @now) end
          from previous p where u.app_user_id = p.app_user_id
          returning u.app_user_id, u.email, u.display_name, u.role, u.created_at, u.disabled_at
        ), audited as (
          insert into audit_log (occurred_at, actor_user_id, action, entity, entity_id, before, after)
          select @now, @actor_id, case when @disabled then 'user.disabled' else 'user.enabled' end, 'app_user', p.app_user_id,
                 jsonb_build_object('disabled_at', p.disabled_at), jsonb_build_object('disabled_at', case when @disabled then @now end)
          from previous p
          where (p.disabled_at is not null) <> @disabled
        ), revoked as (
          update refresh_token set revoked_at = @now
          where @disabled and app_user_id in (select app_user_id from changed) and revoked_at is null
        )
        select app_user_id, email, display_name, role, created_at, disabled_at from changed
        """;
}

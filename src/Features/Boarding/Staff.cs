using Carter;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace Holdfast.Features.Boarding;

/// <summary>
/// <c>/staff</c>: an organizer's staff, the accounts that may check tickets in and read manifests
/// for the organizer's shows and do nothing else there. Adding by email grants; removing revokes at
/// once (every check-in and manifest request reads the grant).
/// </summary>
public sealed class Staff : ICarterModule
{
    /// <summary>Whom to add.</summary>
    /// <param name="Email">The account's email; it must exist (the person registers first).</param>
    public sealed record Request(string? Email);

    /// <summary>A member of my staff.</summary>
    /// <param name="UserId">Their account.</param>
    /// <param name="Email">Their email.</param>
    /// <param name="DisplayName">Their name.</param>
    /// <param name="AddedAt">UTC.</param>
    public sealed record Member(long UserId, string Email, string DisplayName, DateTimeOffset AddedAt);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app)
    {
        app.MapGet("/staff", ListAsync)
            .RequireAuthorization(Roles.Organizer)
            .WithTags("Boarding")
            .WithSummary("List my staff")
            .WithDescription("Organizers and admins: the accounts that check in and read manifests for my shows.");
        app.MapPost("/staff", AddAsync)
            .RequireAuthorization(Roles.Organizer)
            .WithTags("Boarding")
            .WithSummary("Add a member of staff")
            .WithDescription("By email; 404 when no account has it. Adding someone already on the staff answers 200 with the member.")
            .WithRequestExample(new { email = "gate@example.com" })
            .DeclaresProblem(StatusCodes.Status404NotFound, "No account has that email.")
            .DeclaresProblem(StatusCodes.Status409Conflict, "That account is you.");
        app.MapDelete("/staff/{userId:long}", RemoveAsync)
            .RequireAuthorization(Roles.Organizer)
            .WithTags("Boarding")
            .WithSummary("Remove a member of staff")
            .WithDescription("Ends the grant at once; 404 when they are not on my staff.");
    }

    internal static async Task<Ok<List<Member>>> ListAsync(HttpContext http, NpgsqlDataSource db, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand(ListSql).With("organizer", http.User.UserId());
        var members = new List<Member>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            members.Add(Read(reader));
        }

        return TypedResults.Ok(members);
    }

    internal static async Task<Results<Created<Member>, Ok<Member>, ValidationProblem, ProblemHttpResult>> AddAsync(
        Request request, HttpContext http, NpgsqlDataSource db, TimeProvider time, CancellationToken cancellationToken)
    {
        var validation = new Validation().Require(request.Email is { Length: >= 3 and <= 320 } e && e.Contains('@'), "email", "Required: an email address.");
        if (!validation.IsValid)
        {
            return validation.Problem();
        }

        await using var command = db.CreateCommand(AddSql)
            .With("organizer", http.User.UserId()).With("email", request.Email!.Trim()).With("now", time.GetUtcNow());
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return Problems.NotFound("Account");
        }

        var member = Read(reader);
        if (member.UserId == http.User.UserId())
        {
            return Problems.Conflict("You are the organizer.", "An organizer checks in on their own shows already; add someone else.");
        }

        return reader.Get<bool>("added") ? TypedResults.Created("/staff", member) : TypedResults.Ok(member);
    }

    internal static async Task<Results<NoContent, ProblemHttpResult>> RemoveAsync(long userId, HttpContext http, NpgsqlDataSource db, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand(RemoveSql).With("organizer", http.User.UserId()).With("staff", userId);
        return await command.ExecuteNonQueryAsync(cancellationToken) == 0 ? Problems.NotFound("Member of staff") : TypedResults.NoContent();
    }

    private static Member Read(NpgsqlDataReader reader) =>
        new(reader.Get<long>("app_user_id"), reader.Get<string>("email"), reader.Get<string>("display_name"), reader.Get<DateTimeOffset>("added_at"));

    private const string ListSql = """
        select u.app_user_id, u.email, u.display_name, os.added_at
        from organizer_staff os join app_user u on u.app_user_id = os.staff_user_id
        where os.organizer_user_id = @organizer
        order by os.added_at, u.app_user_id
        """;

    // Idempotent: a second add finds the grant and reports it (added = false). The organizer's own
    // account comes back unadded (the check constraint would refuse it) so the handler can say why.
    private const string AddSql = """
        with account as (
          select app_user_id, email, display_name from app_user where lower(email) = lower(@email)
        ), granted as (
          insert into organizer_staff (organizer_user_id, staff_user_id, added_at)
          select @organizer, app_user_id, @now from account where app_user_id <> @organizer
          on conflict on constraint organizer_staff_pk do nothing
          returning staff_user_id, added_at
        )
        select a.app_user_id, a.email, a.display_name,
               coalesce(g.added_at, (select os.added_at from organizer_staff os where os.organizer_user_id = @organizer and os.staff_user_id = a.app_user_id), @now) as added_at,
               g.staff_user_id is not null as added
        from account a left join granted g on g.staff_user_id = a.app_user_id
        """;

    private const string RemoveSql = """
        delete from organizer_staff where organizer_user_id = @organizer and staff_user_id = @staff
        """;
}

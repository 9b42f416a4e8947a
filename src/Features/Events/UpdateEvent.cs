using Carter;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace Holdfast.Features.Events;

/// <summary>
/// <c>PATCH /events/{id}</c>: the owning organizer or an admin renames an event, changes its code,
/// its duration (which moves the end of every upcoming show of it), its release date, description or
/// status. Statuses only move forward, draft → active → archived (a draft may also be archived
/// unseen): once active the event was public, so it never returns to draft, and archived is final
/// (a re-release is a new event). Any other move is 409. An archived event takes no new shows and
/// leaves search; its shows already sold still run.
/// </summary>
public sealed class UpdateEvent : ICarterModule
{
    /// <summary>Only the fields given change.</summary>
    /// <param name="Title">1–200 characters.</param>
    /// <param name="Code">1–32 characters, unique per kind.</param>
    /// <param name="DurationMinutes">1–2880.</param>
    /// <param name="Status"><c>draft</c>, <c>active</c> or <c>archived</c>; only the moves above are allowed.</param>
    /// <param name="ReleaseDate">Films: the release date.</param>
    /// <param name="Description">Up to 5,000 characters; an empty string removes it.</param>
    public sealed record Request(string? Title, string? Code, int? DurationMinutes, string? Status = null, DateOnly? ReleaseDate = null, string? Description = null);

    /// <summary>The status moves allowed (from, to); staying put is always allowed.</summary>
    public static readonly IReadOnlySet<(string From, string To)> Moves = new HashSet<(string, string)>
    {
        ("draft", "active"), ("draft", "archived"), ("active", "archived"),
    };

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app) =>
        app.MapPatch("/events/{eventId:long}", HandleAsync)
            .DeclaresProblem(StatusCodes.Status409Conflict, "The code is taken by another event of this kind, the new duration would make two of its shows overlap in a venue, " +
                                                            "or the status cannot move that way (`from` and `to` say).")
            .RequireAuthorization(Roles.Organizer)
            .WithTags("Catalogue")
            .WithSummary("Change an event")
            .WithDescription("The owning organizer or an admin. 204; 400 names each invalid field; 404 when not yours; " +
                             "409 when the code is taken, a longer duration would make shows overlap in a hall or coach, or the status move is not allowed " +
                             "(only draft → active, draft → archived and active → archived).")
            .WithRequestExample(new { status = "active", release_date = "2027-02-14", description = "A love story." });

    internal static async Task<Results<NoContent, ValidationProblem, ProblemHttpResult>> HandleAsync(
        long eventId, Request request, HttpContext http, NpgsqlDataSource db, TimeProvider time, CancellationToken cancellationToken)
    {
        var validation = new Validation()
            .Require(request.Title is null || request.Title.Length is >= 1 and <= 200, "title", "1 to 200 characters.")
            .Require(request.Code is null || request.Code.Length is >= 1 and <= 32, "code", "1 to 32 characters.")
            .Require(request.DurationMinutes is null or (>= 1 and <= 2880), "duration_minutes", "1 to 2880.")
            .Require(request.Status is null or "draft" or "active" or "archived", "status", "Must be draft, active or archived.")
            .Require(request.Description is null or { Length: <= 5000 }, "description", "At most 5,000 characters.");
        if (!validation.IsValid)
        {
            return validation.Problem();
        }

        var now = time.GetUtcNow();
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using var command = new NpgsqlCommand(UpdateSql, connection);
        command.With("event_id", eventId);
        command.With("user_id", http.User.UserId());
        command.With("is_admin", http.User.IsAdmin());
        command.With("title", request.Title);
        command.With("code", request.Code);
        command.With("duration", request.DurationMinutes);
        command.With("now", now);
        command.With("status", request.Status);
        command.With("release_date", request.ReleaseDate);
        command.With("description", request.Description);
        try
        {
            System.Text.Json.JsonElement before;
            string status;
            await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
            {
                if (!await reader.ReadAsync(cancellationToken))
                {
                    return Problems.NotFound("Event");
                }

                before = reader.Get<System.Text.Json.JsonElement>("before");
                status = reader.Get<string>("status");
            }

            // The row is locked and the change made; refusing now rolls it back with the transaction.
            if (request.Status is { } to && to != status && !Moves.Contains((status, to)))
            {
                return Problems.Conflict("Status change not allowed.", $"An event cannot move from {status} to {to}.",
                    new Dictionary<string, object?> { ["from"] = status, ["to"] = to });
            }

            await AuditLog.RecordAsync(connection, http.User.UserId(), "event.updated", "event", eventId, before, request, now, cancellationToken);
            await Holdfast.Infrastructure.Caching.ReadCache.NotifyCatalogueChangedAsync(connection, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            return TypedResults.NoContent();
        }
        catch (PostgresException ex) when (ex.ProblemFor(
            new OnConstraint("event_code_uq", () => Problems.Conflict("Code taken.", $"Another event of this kind uses code {request.Code}.")),
            new OnConstraint("show_no_overlap_in_venue", () =>
                Problems.Conflict("Shows would overlap.", "With that duration a show of this event would overlap the next one in its venue."))) is { } problem)
        {
            return problem;
        }
    }

    // Returns the event as it was (for the audit log), or nothing when it is not the caller's.
    private const string UpdateSql = """
        with previous as (
          select e.event_id, e.status,
                 json_build_object('title', e.title, 'code', e.code, 'duration_minutes', e.duration_minutes, 'status', e.status,
                                   'release_date', e.release_date, 'description', e.description) as before
          from event e
          where e.event_id = @event_id and (e.owner_app_user_id = @user_id or @is_admin)
          for update
        ), changed as (
          update event e
          set title = coalesce(@title, e.title), code = coalesce(@code, e.code), duration_minutes = coalesce(@duration, e.duration_minutes),
              status = coalesce(@status, e.status), release_date = coalesce(@release_date, e.release_date),
              description = case when @description::text is null then e.description else nullif(@description, '') end
          from previous p where e.event_id = p.event_id
        ), shows as (
          update show s set ends_at = s.starts_at + make_interval(mins => @duration)
          from previous p
          where @duration::int is not null and s.event_id = p.event_id and s.starts_at > @now and s.status not in ('cancelled', 'completed')
        )
        select before, status from previous
        """;
}

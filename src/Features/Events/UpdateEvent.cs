using Carter;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace Holdfast.Features.Events;

/// <summary>
/// <c>PATCH /events/{id}</c>: the owning organizer or an admin renames an event, changes its code,
/// or its duration, which moves the end of every upcoming show of it.
/// </summary>
public sealed class UpdateEvent : ICarterModule
{
    /// <summary>Only the fields given change.</summary>
    /// <param name="Title">1–200 characters.</param>
    /// <param name="Code">1–32 characters, unique per kind.</param>
    /// <param name="DurationMinutes">1–2880.</param>
    public sealed record Request(string? Title, string? Code, int? DurationMinutes);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app) =>
        app.MapPatch("/events/{eventId:long}", HandleAsync)
            .DeclaresProblem(StatusCodes.Status409Conflict, "The code is taken by another event of this kind, or the new duration would make two of its shows overlap in a venue.")
            .RequireAuthorization(Roles.Organizer)
            .WithTags("Catalogue")
            .WithSummary("Change an event")
            .WithDescription("The owning organizer or an admin. 204; 400 names each invalid field; 404 when not yours; " +
                             "409 when the code is taken or a longer duration would make shows overlap in a hall or coach.");

    internal static async Task<Results<NoContent, ValidationProblem, ProblemHttpResult>> HandleAsync(
        long eventId, Request request, HttpContext http, NpgsqlDataSource db, TimeProvider time, CancellationToken cancellationToken)
    {
        var validation = new Validation()
            .Require(request.Title is null || request.Title.Length is >= 1 and <= 200, "title", "1 to 200 characters.")
            .Require(request.Code is null || request.Code.Length is >= 1 and <= 32, "code", "1 to 32 characters.")
            .Require(request.DurationMinutes is null or (>= 1 and <= 2880), "duration_minutes", "1 to 2880.");
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
        try
        {
            System.Text.Json.JsonElement before;
            await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
            {
                if (!await reader.ReadAsync(cancellationToken))
                {
                    return Problems.NotFound("Event");
                }

                before = reader.Get<System.Text.Json.JsonElement>("before");
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
          select e.event_id, json_build_object('title', e.title, 'code', e.code, 'duration_minutes', e.duration_minutes) as before
          from event e
          where e.event_id = @event_id and (e.owner_app_user_id = @user_id or @is_admin)
          for update
        ), changed as (
          update event e
          set title = coalesce(@title, e.title), code = coalesce(@code, e.code), duration_minutes = coalesce(@duration, e.duration_minutes)
          from previous p where e.event_id = p.event_id
        ), shows as (
          update show s set ends_at = s.starts_at + make_interval(mins => @duration)
          from previous p
          where @duration::int is not null and s.event_id = p.event_id and s.starts_at > @now and s.status not in ('cancelled', 'completed')
        )
        select before from previous
        """;
}

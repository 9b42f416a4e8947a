using Carter;
using Holdfast.Features.Catalogue;
using Holdfast.Features.Jobs;
using Holdfast.Features.Reminders;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace Holdfast.Features.Shows;

/// <summary>
/// <c>PATCH /shows/{id}</c>: the owning organizer or an admin moves a show, changes prices or the
/// sales window. Holds and bookings keep the prices they locked; new holds pay the new ones.
/// </summary>
public sealed class UpdateShow : ICarterModule
{
    /// <summary>Only the fields given change.</summary>
    /// <param name="StartsAt">New start, in the future; the end moves with it.</param>
    /// <param name="Prices">Category → new price in minor units (≥ 0); categories not named keep theirs.</param>
    /// <param name="SalesOpensAt">New opening of sales.</param>
    /// <param name="SalesClosesAt">New close of sales (not after the start).</param>
    public sealed record Request(DateTimeOffset? StartsAt, Dictionary<string, long>? Prices, DateTimeOffset? SalesOpensAt, DateTimeOffset? SalesClosesAt);

    private sealed record Current(string Status, DateTime StartsAt, DateTime SalesOpensAt, DateTime SalesClosesAt, int DurationMinutes, System.Text.Json.JsonElement Prices);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app) =>
        app.MapPatch("/shows/{showId:long}", HandleAsync)
            .DeclaresProblem(StatusCodes.Status409Conflict, "The show has ended (cancelled or finished), or the new time overlaps another show in its venue.")
            .RequireAuthorization(Roles.Organizer)
            .WithTags("Catalogue")
            .WithSummary("Change a show")
            .WithDescription("The owning organizer or an admin. 204; 400 names each invalid field; 404 when not yours; " +
                             "409 when cancelled or completed, or when the new time overlaps another show in the same hall or coach.");

    internal static async Task<Results<NoContent, ValidationProblem, ProblemHttpResult>> HandleAsync(
        long showId, Request request, HttpContext http, NpgsqlDataSource db, TimeProvider time, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var validation = new Validation().Require(request.StartsAt is null || request.StartsAt > now, "starts_at", "Must be in the future.");
        CreateShow.RequireValidPrices(validation, request.Prices);

        if (!validation.IsValid)
        {
            return validation.Problem();
        }

        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var current = await LockAsync(connection, showId, http, cancellationToken);
        if (current is null)
        {
            return Problems.NotFound("Show");
        }

        if (current.Status is "cancelled" or "completed")
        {
            return Problems.Conflict("Show ended.", $"Show {showId} is {current.Status}.");
        }

        var startsAt = request.StartsAt?.UtcDateTime ?? current.StartsAt;
        var opens = request.SalesOpensAt?.UtcDateTime ?? current.SalesOpensAt;
        // Moving a show earlier pulls the close of sales with it unless a close is given.
        var closes = request.SalesClosesAt?.UtcDateTime ?? (current.SalesClosesAt > startsAt ? startsAt : current.SalesClosesAt);
        validation
            .Require(closes > opens, "sales_closes_at", "Must be after sales_opens_at.")
            .Require(closes <= startsAt, "sales_closes_at", "Must not be after starts_at.");
        if (!validation.IsValid)
        {
            return validation.Problem();
        }

        try
        {
            await using var update = new NpgsqlCommand(UpdateSql, connection);
            update.With("show_id", showId);
            update.With("starts_at", startsAt);
            update.With("ends_at", startsAt.AddMinutes(current.DurationMinutes));
            update.With("opens", opens);
            update.With("closes", closes);
            update.With("categories", (request.Prices ?? []).Keys.ToArray());
            update.With("amounts", (request.Prices ?? []).Values.ToArray());
            if (await update.ExecuteScalarAsync(cancellationToken) is string unknown)
            {
                return new Validation().Add("prices", $"The venue has no seats of category {unknown}.").Problem();
            }
        }
        catch (PostgresException ex) when (ex.ProblemFor(
            new OnConstraint("show_no_overlap_in_venue", () => Problems.Conflict("Venue busy.", "Another show in this venue overlaps the new time."))) is { } problem)
        {
            return problem;
        }

        if (request.StartsAt is not null)
        {
            await ReminderSchedule.MoveAsync(connection, showId, new DateTimeOffset(startsAt, TimeSpan.Zero), cancellationToken);
            if (startsAt != current.StartsAt)
            {
                // Who hears of a move, and how: an SMS where the customer wants show changes by SMS.
                await using var texts = new NpgsqlCommand(MovedSmsSql, connection).With("show_id", showId).With("now", now)
                    .With("revision", new DateTimeOffset(startsAt, TimeSpan.Zero).ToUnixTimeSeconds());
                await texts.ExecuteNonQueryAsync(cancellationToken);
            }
        }

        await AuditLog.RecordAsync(connection, http.User.UserId(), "show.updated", "show", showId,
            new { current.StartsAt, current.SalesOpensAt, current.SalesClosesAt, current.Prices },
            new { StartsAt = startsAt, SalesOpensAt = opens, SalesClosesAt = closes, request.Prices }, now, cancellationToken);
        await Holdfast.Infrastructure.Caching.ReadCache.NotifyCatalogueChangedAsync(connection, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return TypedResults.NoContent();
    }

    private static async Task<Current?> LockAsync(NpgsqlConnection connection, long showId, HttpContext http, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(LockSql, connection);
        command.With("show_id", showId);
        ShowOwnership.Bind(command.Parameters, http.User);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? new Current(reader.Get<string>("status"), reader.Get<DateTime>("starts_at"), reader.Get<DateTime>("sales_opens_at"), reader.Get<DateTime>("sales_closes_at"),
                reader.Get<int>("duration_minutes"), reader.Get<System.Text.Json.JsonElement>("prices"))
            : null;
    }

    // FOR UPDATE, like a cancellation: holds in flight finish first, later ones see the new window.
    private const string LockSql = $$"""
        select s.status, s.starts_at, s.sales_opens_at, s.sales_closes_at, e.duration_minutes,
               coalesce((select json_object_agg(category, amount_minor) from show_price where show_id = s.show_id), '{}'::json) as prices
        from show s
        join venue v on v.venue_id = s.venue_id
        join event e on e.event_id = s.event_id
        where s.show_id = @show_id and {{ShowOwnership.Condition}}
        for update of s
        """;

    private static readonly string MovedSmsSql = SmsArgs.ForBookings("show_moved", """
        select booking_id, @revision::bigint as revision from booking where show_id = @show_id and status = 'confirmed'
        """);

    // Returns the first priced category the venue lacks (then nothing changes: the caller rolls back).
    private const string UpdateSql = """
        with unknown as (
          select p.category from unnest(@categories) as p (category)
          where not exists (select 1 from seat se join show s on s.venue_id = se.venue_id where s.show_id = @show_id and se.category = p.category)
          limit 1
        ), moved as (
          update show set starts_at = @starts_at, ends_at = @ends_at, sales_opens_at = @opens, sales_closes_at = @closes
          where show_id = @show_id and not exists (select 1 from unknown)
        ), priced as (
          insert into show_price (show_id, category, amount_minor)
          select @show_id, p.category, p.amount from unnest(@categories, @amounts) as p (category, amount)
          where not exists (select 1 from unknown)
          on conflict (show_id, category) do update set amount_minor = excluded.amount_minor
        )
        select category from unknown
        """;
}

using System.Text.RegularExpressions;
using Carter;
using Holdfast.Features.Inventory;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace Holdfast.Features.Shows;

/// <summary>
/// <c>POST /shows</c>: an organizer schedules one of their events at one of their venues, with a
/// price per seat category and a sales window. The show's seat inventory is created with it.
/// </summary>
public sealed partial class CreateShow : ICarterModule
{
    /// <summary>The show.</summary>
    /// <param name="EventId">An event the caller owns.</param>
    /// <param name="VenueId">A venue the caller owns.</param>
    /// <param name="StartsAt">UTC (or with an offset), in the future.</param>
    /// <param name="Currency">ISO 4217 code, e.g. GBP or JPY.</param>
    /// <param name="Prices">Category → price per seat in the currency's minor units (≥ 0; yen for JPY).</param>
    /// <param name="SalesOpensAt">When holds open (default now).</param>
    /// <param name="SalesClosesAt">When holds close (default the start).</param>
    public sealed record Request(long? EventId, long? VenueId, DateTimeOffset? StartsAt, string? Currency, Dictionary<string, long>? Prices,
        DateTimeOffset? SalesOpensAt, DateTimeOffset? SalesClosesAt);

    /// <summary>The created show.</summary>
    /// <param name="ShowId">The show id.</param>
    /// <param name="SeatCount">Seats in its inventory.</param>
    public sealed record Response(long ShowId, int SeatCount);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app) =>
        app.MapPost("/shows", HandleAsync)
            .DeclaresProblem(StatusCodes.Status404NotFound, "The event or the venue named in the body does not exist, or is not the caller's.")
            .DeclaresProblem(StatusCodes.Status409Conflict, "Another show in the venue overlaps that time.")
            .RequireAuthorization(Roles.Organizer)
            .WithTags("Catalogue")
            .WithSummary("Schedule a show")
            .WithDescription("Organizers (own events and venues) and admins. 400 names each invalid field (a price for a category the venue " +
                             "does not have included); 404 when the event or venue is not yours; 409 when it overlaps another show in the same hall or coach.");

    internal static async Task<Results<Created<Response>, ValidationProblem, ProblemHttpResult>> HandleAsync(
        Request request, HttpContext http, NpgsqlDataSource db, TimeProvider time, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var opens = request.SalesOpensAt ?? now;
        var closes = request.SalesClosesAt ?? request.StartsAt;
        var validation = new Validation()
            .Require(request.EventId is not null, "event_id", "Required.")
            .Require(request.VenueId is not null, "venue_id", "Required.")
            .Require(request.StartsAt > now, "starts_at", "Required, and in the future.")
            .Require(request.Currency is not null && Currency().IsMatch(request.Currency), "currency", "Required: an ISO 4217 code such as GBP.")
            .Require(request.Prices is { Count: > 0 }, "prices", "Give at least one category's price.")
            .Require(closes is null || closes > opens, "sales_closes_at", "Must be after sales_opens_at.")
            .Require(closes is null || request.StartsAt is null || closes <= request.StartsAt, "sales_closes_at", "Must not be after starts_at.");
        RequireValidPrices(validation, request.Prices);

        if (!validation.IsValid)
        {
            return validation.Problem();
        }

        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using var command = new NpgsqlCommand(InsertSql, connection);
        command.With("event_id", request.EventId!.Value);
        command.With("venue_id", request.VenueId!.Value);
        command.With("user_id", http.User.UserId());
        command.With("is_admin", http.User.IsAdmin());
        command.With("starts_at", request.StartsAt!.Value.ToUniversalTime());
        command.With("opens", opens.ToUniversalTime());
        command.With("closes", closes!.Value.ToUniversalTime());
        command.With("currency", request.Currency!);
        command.With("categories", request.Prices!.Keys.ToArray());
        command.With("amounts", request.Prices.Values.ToArray());
        try
        {
            Response created;
            await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
            {
                await reader.ReadAsync(cancellationToken);
                if (!reader.Get<bool>("event_found"))
                {
                    return Problems.NotFound("Event");
                }

                if (!reader.Get<bool>("venue_found"))
                {
                    return Problems.NotFound("Venue");
                }

                if (reader.Get<string?>("unknown_category") is { } unknownCategory)
                {
                    return new Validation().Add("prices", $"The venue has no seats of category {unknownCategory}.").Problem();
                }

                if (reader.Get<string?>("zone") is null)
                {
                    return new Validation().Add("venue_id", "A show needs a time zone: the event's origin, or the venue's city.").Problem();
                }

                created = new Response(reader.Get<long>("show_id"), 0);
            }

            created = created with { SeatCount = await SeatInventory.StockShowsAsync(connection, [created.ShowId], cancellationToken) };

            await AuditLog.RecordAsync(connection, http.User.UserId(), "show.created", "show", created.ShowId, null,
                new { request.EventId, request.VenueId, StartsAt = request.StartsAt!.Value.ToUniversalTime(), request.Currency, request.Prices, SalesOpensAt = opens, SalesClosesAt = closes },
                now, cancellationToken);
            await Holdfast.Infrastructure.Caching.ReadCache.NotifyCatalogueChangedAsync(connection, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            return TypedResults.Created($"/shows/{created.ShowId}", created);
        }
        catch (PostgresException ex) when (ex.ProblemFor(
            new OnConstraint("show_currency_fk", () => Problems.Field("currency", $"{request.Currency} is not an ISO 4217 currency Holdfast sells in.")),
            new OnConstraint("show_no_overlap_in_venue", () => Problems.Conflict("Venue busy.", "Another show in this venue overlaps that time."))) is { } problem)
        {
            return problem;
        }
    }

    [GeneratedRegex("^[A-Z]{3}$")]
    private static partial Regex Currency();

    /// <summary>
    /// Adds an error under <c>prices.{category}</c> for each price outside 0 to 100,000,000,000 minor
    /// units. Shared by <see cref="UpdateShow"/>.
    /// </summary>
    internal static void RequireValidPrices(Validation validation, Dictionary<string, long>? prices)
    {
        foreach (var (category, amount) in prices ?? [])
        {
            validation.Require(amount is >= 0 and <= 100_000_000_000, $"prices.{category}", "Must be 0 to 100,000,000,000 minor units.");
        }
    }

    // One statement: checks ownership, categories and time zone, then writes the show and its
    // prices, or nothing; the inventory then stocks its seats and feed row (SeatInventory).
    private const string InsertSql = """
        with e as (
          select e.event_id, e.duration_minutes, coalesce(oa.time_zone, oc.time_zone) as zone
          from event e
          left join airport oa on oa.airport_id = e.origin_airport_id
          left join city oc on oc.city_id = e.origin_city_id
          where e.event_id = @event_id and (e.owner_app_user_id = @user_id or @is_admin)
        ), v as (
          select v.venue_id, c.time_zone as zone
          from venue v left join city c on c.city_id = v.city_id
          where v.venue_id = @venue_id and (v.owner_app_user_id = @user_id or @is_admin)
        ), unknown_category as (
          select p.category from unnest(@categories) as p (category)
          where not exists (select 1 from seat s where s.venue_id = @venue_id and s.category = p.category)
          limit 1
        ), ok as (
          select e.event_id, v.venue_id, e.duration_minutes, coalesce(e.zone, v.zone) as zone
          from e, v
          where not exists (select 1 from unknown_category) and coalesce(e.zone, v.zone) is not null
        ), new_show as (
          insert into show (event_id, venue_id, starts_at, ends_at, time_zone, currency, status, sales_opens_at, sales_closes_at)
          select event_id, venue_id, @starts_at, @starts_at + make_interval(mins => duration_minutes), zone, @currency, 'on_sale', @opens, @closes
          from ok
          returning show_id
        ), prices as (
          insert into show_price (show_id, category, amount_minor)
          select new_show.show_id, p.category, p.amount from new_show, unnest(@categories, @amounts) as p (category, amount)
        )
        select exists (select 1 from e) as event_found, exists (select 1 from v) as venue_found, (select category from unknown_category) as unknown_category,
               (select coalesce(e.zone, v.zone) from e, v) as zone, (select show_id from new_show) as show_id
        """;
}

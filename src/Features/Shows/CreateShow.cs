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
/// price per seat category and a sales window. The show's seat inventory is created with it. The
/// rules it shares with the timetable are in <see cref="ShowScheduling"/>.
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
            .DeclaresProblem(StatusCodes.Status409Conflict, "Another show in the venue overlaps that time, or the event or the venue is archived.")
            .RequireAuthorization(Roles.Organizer)
            .WithTags("Catalogue")
            .WithSummary("Schedule a show")
            .WithDescription("Organizers (own events and venues) and admins. 400 names each invalid field (a price for a category the venue " +
                             "does not have included); 404 when the event or venue is not yours; 409 when it overlaps another show in the same hall or coach, " +
                             "or when the event or the venue is archived (archived things take no new shows). A draft event may be scheduled; its shows stay out of search until it is active.");

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
        try
        {
            var outcome = await ShowScheduling.InsertAsync(connection,
                new NewShow(request.EventId!.Value, request.VenueId!.Value, request.StartsAt!.Value, request.Currency!, request.Prices!, opens, closes!.Value),
                http.User, now, cancellationToken);
            if (outcome.ShowId is not { } showId)
            {
                return ShowScheduling.Problem(outcome.Refused!.Value, outcome.UnknownCategory);
            }

            var created = new Response(showId, await SeatInventory.StockShowsAsync(connection, [showId], cancellationToken));
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
    internal static partial Regex Currency();

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
}

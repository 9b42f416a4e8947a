using System.ComponentModel;
using Carter;
using Holdfast.Features.Inventory;
using Holdfast.Features.Shows;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace Holdfast.Features.Venues;

/// <summary>
/// <c>POST /venues/{id}/blocks</c> and <c>DELETE /venues/{id}/blocks?seats=…</c>: the owning
/// organizer (or an admin) marks seats of the venue's layout blocked, or no longer blocked. Shows
/// created on the venue from then on start with those seats blocked; shows that already exist keep
/// their seat states (an organizer blocks those per show, <c>POST /shows/{id}/blocks</c>), because a
/// show's seats may be held or sold already and its seat map is what customers are looking at.
/// Idempotent, audited. Decision 0025.
/// </summary>
public sealed class BlockVenueSeats : ICarterModule
{
    /// <summary>What the request changed in the layout.</summary>
    /// <param name="VenueId">The venue.</param>
    /// <param name="Changed">Seats whose layout flag changed.</param>
    /// <param name="Unchanged">Named seats whose flag was already so.</param>
    public sealed record Response(long VenueId, IReadOnlyList<string> Changed, IReadOnlyList<string> Unchanged);

    private static readonly string[] ExampleSeats = ["B7", "B8"];

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app)
    {
        app.MapPost("/venues/{venueId:long}/blocks", BlockAsync)
            .WithRequestExample(new { seats = ExampleSeats, reason = "broken seats" })
            .RequireAuthorization(Roles.Organizer)
            .WithTags("Venues")
            .WithSummary("Block seats in a venue's layout")
            .WithDescription("The owning organizer or an admin. Shows created from now on start with these seats blocked; existing shows are not changed " +
                             "(block their seats with POST /shows/{id}/blocks). 400 names unknown seats; 404 when the venue is not yours.");
        app.MapDelete("/venues/{venueId:long}/blocks", UnblockAsync)
            .RequireAuthorization(Roles.Organizer)
            .WithTags("Venues")
            .WithSummary("Unblock seats in a venue's layout")
            .WithDescription("The owning organizer or an admin. Shows created from now on sell these seats; existing shows are not changed. " +
                             "400 names unknown seats; 404 when the venue is not yours.");
    }

    internal static Task<Results<Ok<Response>, ValidationProblem, ProblemHttpResult>> BlockAsync(
        long venueId, BlockSeats.Request request, HttpContext http, NpgsqlDataSource db, TimeProvider time, CancellationToken cancellationToken)
    {
        var validation = BlockSeats.ValidateLabels(request.Seats, "seats")
            .Require(request.Reason is { Length: >= 1 and <= 200 } reason && !string.IsNullOrWhiteSpace(reason), "reason", "Required: 1 to 200 characters.");
        return validation.IsValid
            ? SetAsync(venueId, request.Seats!, true, request.Reason, http, db, time, cancellationToken)
            : Task.FromResult<Results<Ok<Response>, ValidationProblem, ProblemHttpResult>>(validation.Problem());
    }

    internal static Task<Results<Ok<Response>, ValidationProblem, ProblemHttpResult>> UnblockAsync(
        long venueId,
        [Description("Labels of the seats to unblock, comma-separated, e.g. `B7,B8`.")] string? seats,
        HttpContext http, NpgsqlDataSource db, TimeProvider time, CancellationToken cancellationToken)
    {
        var labels = BlockSeats.SplitLabels(seats);
        var validation = BlockSeats.ValidateLabels(labels, "seats");
        return validation.IsValid
            ? SetAsync(venueId, labels!, false, null, http, db, time, cancellationToken)
            : Task.FromResult<Results<Ok<Response>, ValidationProblem, ProblemHttpResult>>(validation.Problem());
    }

    private static async Task<Results<Ok<Response>, ValidationProblem, ProblemHttpResult>> SetAsync(
        long venueId, string[] labels, bool blocked, string? reason, HttpContext http, NpgsqlDataSource db, TimeProvider time, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using (var check = new NpgsqlCommand(LockSql, connection).With("venue_id", venueId).With("user_id", http.User.UserId()).With("is_admin", http.User.IsAdmin()))
        {
            if (await check.ExecuteScalarAsync(cancellationToken) is null)
            {
                return Problems.NotFound("Venue");
            }
        }

        var result = await SeatInventory.SetLayoutBlockedAsync(connection, venueId, labels, blocked, cancellationToken);
        if (BlockSeats.Unknown(labels, result) is { } unknown)
        {
            return unknown;
        }

        if (result.Changed.Length > 0)
        {
            await AuditLog.RecordAsync(connection, http.User.UserId(), blocked ? "venue.seats_blocked" : "venue.seats_unblocked", "venue", venueId,
                null, new { Seats = result.Changed, Reason = reason }, time.GetUtcNow(), cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        return TypedResults.Ok(new Response(venueId, result.Changed, labels.Except(result.Changed, StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray()));
    }

    // The venue row lock serializes this with a layout replacement.
    private const string LockSql = """
        select 1 from venue v where v.venue_id = @venue_id and (v.owner_app_user_id = @user_id or @is_admin) for update of v
        """;
}

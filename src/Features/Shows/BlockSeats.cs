using System.ComponentModel;
using System.Text.RegularExpressions;
using Carter;
using Holdfast.Features.Catalogue;
using Holdfast.Features.Inventory;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Holdfast.Infrastructure.SeatFeed;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using FromQueryAttribute = Microsoft.AspNetCore.Mvc.FromQueryAttribute;

namespace Holdfast.Features.Shows;

/// <summary>
/// <c>POST /shows/{id}/blocks</c> and <c>DELETE /shows/{id}/blocks?seats=…</c>: the organizer owning
/// the show's venue or event (or an admin) takes seats of one show out of sale (house seats, broken
/// seats, crew) and puts them back. Blocked seats are never held, sold or offered by best-available;
/// each change is one event on the show's seat feed and is audited. Both are idempotent: a seat
/// already in the asked state is reported as unchanged. Decision 0025.
/// </summary>
public sealed partial class BlockSeats : ICarterModule
{
    /// <summary>Seats to block.</summary>
    /// <param name="Seats">Labels from the seat map, e.g. <c>["4E","4F"]</c>; 1 to 500.</param>
    /// <param name="Reason">Why, for the organizer's staff and the audit log (1 to 200 characters), e.g. <c>house seats</c>.</param>
    public sealed record Request(string[]? Seats, string? Reason);

    /// <summary>What the request changed.</summary>
    /// <param name="ShowId">The show.</param>
    /// <param name="Seq">The seat event of this change on the show's seat feed; null when nothing changed.</param>
    /// <param name="Changed">Seats whose state changed (now <c>blocked</c>, or now <c>available</c> after an unblock).</param>
    /// <param name="Unchanged">Named seats already in that state (for an unblock: any seat that was not blocked).</param>
    public sealed record Response(long ShowId, long? Seq, IReadOnlyList<string> Changed, IReadOnlyList<string> Unchanged);

    /// <summary>Most seats one request names.</summary>
    public const int MaxSeats = 500;

    private static readonly string[] ExampleSeats = ["4E", "4F"];

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app)
    {
        app.MapPost("/shows/{showId:long}/blocks", BlockAsync)
            .WithRequestExample(new { seats = ExampleSeats, reason = "house seats" })
            .DeclaresProblem(StatusCodes.Status409Conflict, "A named seat is held or booked (`unavailable_seats`), or the show has ended; nothing was blocked.")
            .RequireAuthorization(Roles.Organizer)
            .WithTags("Catalogue")
            .WithSummary("Block seats of a show")
            .WithDescription("The organizer owning the show's venue or event, or an admin. All or nothing: 409 names the seats that are held or booked " +
                             "(unavailable_seats). Seats already blocked are unchanged. 400 names unknown seats; 404 when the show is not yours.");
        app.MapDelete("/shows/{showId:long}/blocks", UnblockAsync)
            .DeclaresProblem(StatusCodes.Status409Conflict, "The show has ended (cancelled or completed).")
            .RequireAuthorization(Roles.Organizer)
            .WithTags("Catalogue")
            .WithSummary("Unblock seats of a show")
            .WithDescription("The organizer owning the show's venue or event, or an admin. Blocked seats named in `seats` go back on sale; others are unchanged. " +
                             "400 names unknown seats; 404 when the show is not yours.");
    }

    internal static async Task<Results<Ok<Response>, ValidationProblem, ProblemHttpResult>> BlockAsync(
        long showId, Request request, HttpContext http, NpgsqlDataSource db, SeatFeedAnnouncer announcer, TimeProvider time, CancellationToken cancellationToken)
    {
        var validation = ValidateLabels(request.Seats, "seats")
            .Require(request.Reason is { Length: >= 1 and <= 200 } reason && !string.IsNullOrWhiteSpace(reason), "reason", "Required: 1 to 200 characters.");
        if (!validation.IsValid)
        {
            return validation.Problem();
        }

        var labels = request.Seats!;
        await using var transaction = await SeatTransaction.OpenAsync(db, announcer, cancellationToken);
        if (await LockShowAsync(transaction.Connection, showId, http, cancellationToken) is { } refusal)
        {
            return refusal;
        }

        var now = time.GetUtcNow();
        var result = await SeatInventory.BlockAsync(transaction, showId, labels, request.Reason!, http.User.UserId(), now, cancellationToken);
        if (Unknown(labels, result) is { } unknown)
        {
            return unknown;
        }

        if (result.Refused.Length > 0)
        {
            return Problems.Conflict("Seats not available.", $"These seats are held or sold: {string.Join(", ", result.Refused)}. Nothing was blocked.",
                new Dictionary<string, object?> { ["unavailable_seats"] = result.Refused });
        }

        return await FinishAsync(transaction, http, showId, labels, result, "show.seats_blocked", new { Seats = result.Changed, request.Reason }, now, cancellationToken);
    }

    internal static async Task<Results<Ok<Response>, ValidationProblem, ProblemHttpResult>> UnblockAsync(
        long showId,
        [Description("Labels of the seats to unblock, comma-separated, e.g. `4E,4F`.")] string? seats,
        HttpContext http, NpgsqlDataSource db, SeatFeedAnnouncer announcer, TimeProvider time, CancellationToken cancellationToken)
    {
        var labels = SplitLabels(seats);
        var validation = ValidateLabels(labels, "seats");
        if (!validation.IsValid)
        {
            return validation.Problem();
        }

        await using var transaction = await SeatTransaction.OpenAsync(db, announcer, cancellationToken);
        if (await LockShowAsync(transaction.Connection, showId, http, cancellationToken) is { } refusal)
        {
            return refusal;
        }

        var now = time.GetUtcNow();
        var result = await SeatInventory.UnblockAsync(transaction, showId, labels!, now, cancellationToken);
        return Unknown(labels!, result) is { } unknown
            ? unknown
            : await FinishAsync(transaction, http, showId, labels!, result, "show.seats_unblocked", new { Seats = result.Changed }, now, cancellationToken);
    }

    /// <summary>Splits a comma-separated list of seat labels; null or empty when none is given.</summary>
    internal static string[]? SplitLabels(string? text) =>
        text?.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);

    /// <summary>Checks 1 to <see cref="MaxSeats"/> distinct seat labels, naming <paramref name="field"/>.</summary>
    internal static Validation ValidateLabels(string[]? labels, string field)
    {
        var validation = new Validation();
        if (labels is not { Length: >= 1 and <= MaxSeats })
        {
            return validation.Add(field, $"Required: 1 to {MaxSeats} seat labels such as \"4E\".");
        }

        for (var i = 0; i < labels.Length; i++)
        {
            validation.Require(labels[i] is not null && SeatLabel().IsMatch(labels[i]), $"{field}[{i}]", "A seat label is 1 to 16 letters and digits, e.g. \"12A\".");
        }

        return validation.Require(labels.Distinct(StringComparer.Ordinal).Count() == labels.Length, field, "A seat is named twice.");
    }

    /// <summary>400 naming the labels the seat map does not have, or null when all are known.</summary>
    internal static ProblemHttpResult? Unknown(string[] labels, SeatBlockResult result)
    {
        var unknown = labels.Except(result.Known, StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();
        return unknown.Length == 0 ? null : Problems.Field("seats", $"Unknown seats: {string.Join(", ", unknown)}.");
    }

    private static async Task<ProblemHttpResult?> LockShowAsync(NpgsqlConnection connection, long showId, HttpContext http, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(LockShowSql, connection).With("show_id", showId);
        ShowOwnership.Bind(command.Parameters, http.User);
        return await command.ExecuteScalarAsync(cancellationToken) switch
        {
            null => Problems.NotFound("Show"),
            "cancelled" or "completed" => Problems.Conflict("Show ended.", $"Show {showId} has ended; its seats no longer change."),
            _ => null,
        };
    }

    private static async Task<Ok<Response>> FinishAsync(
        SeatTransaction transaction, HttpContext http, long showId, string[] labels, SeatBlockResult result, string action, object after, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (result.Changed.Length > 0)
        {
            await AuditLog.RecordAsync(transaction.Connection, http.User.UserId(), action, "show", showId, null, after, now, cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken); // announces the seat event
        var unchanged = labels.Except(result.Changed, StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();
        return TypedResults.Ok(new Response(showId, result.Seq, result.Changed, unchanged));
    }

    [GeneratedRegex("^[A-Za-z0-9-]{1,16}$")]
    private static partial Regex SeatLabel();

    // KEY SHARE, as every hold takes: a cancellation (FOR UPDATE) waits for this change or is seen by it.
    private const string LockShowSql = $"""
        select s.status
        from show s
        join venue v on v.venue_id = s.venue_id
        join event e on e.event_id = s.event_id
        where s.show_id = @show_id and {ShowOwnership.Condition}
        for key share of s
        """;
}

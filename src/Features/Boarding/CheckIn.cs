using Carter;
using Holdfast.Features.Catalogue;
using Holdfast.Features.Inventory;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Holdfast.Infrastructure.SeatFeed;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Holdfast.Features.Boarding;

/// <summary>
/// <c>POST /shows/{id}/checkins {code}</c>: admits a ticket exactly once. The admission is one
/// conditional UPDATE (<c>checked_in_at is null</c>): of any number of concurrent scans of one code,
/// on any number of nodes, the row lock lets one through and the others find it admitted and get
/// 409 naming when, by whom and on which device. A void ticket gets 410, an unknown code 404, a
/// ticket for another show 422, a scan outside the show's check-in window 409 naming the window.
/// A scanner on a flaky connection sends an <c>Idempotency-Key</c> per scan: its retry gets the
/// first answer, not "already admitted".
/// </summary>
public sealed class CheckIn : ICarterModule
{
    /// <summary>A scan.</summary>
    /// <param name="Code">The ticket's code, as read from its QR code.</param>
    /// <param name="Device">Optional: which scanner or gate (up to 100 characters), shown to later scans of the same ticket.</param>
    public sealed record Request(string? Code, string? Device);

    /// <summary>An admitted ticket.</summary>
    /// <param name="TicketId">The ticket.</param>
    /// <param name="BookingId">Its booking.</param>
    /// <param name="ShowId">The show.</param>
    /// <param name="SeatId">The seat id.</param>
    /// <param name="Seat">Its label, e.g. <c>12A</c>.</param>
    /// <param name="Category">E.g. <c>economy</c>.</param>
    /// <param name="AttendeeName">Passenger or attendee, when given.</param>
    /// <param name="CheckedInAt">UTC instant of admission.</param>
    /// <param name="CheckedInBy">The account (organizer, staff or admin) that admitted it.</param>
    /// <param name="Device">The scanner, if it said.</param>
    public sealed record Response(long TicketId, long BookingId, long ShowId, long SeatId, string Seat, string Category, string? AttendeeName,
        DateTimeOffset CheckedInAt, long CheckedInBy, string? Device);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app) =>
        app.MapPost("/shows/{showId:long}/checkins", HandleAsync)
            .RequireAuthorization()
            .WithTags("Boarding")
            .WithMetadata(new IdempotentAttribute())
            .WithSummary("Check a ticket in")
            .WithDescription("For the show's organizer, their staff and admins (404 for anyone else). Admits the ticket once; a second scan gets 409 naming when, by whom and where it was admitted.")
            .WithRequestExample(new { code = "q7Xo3zJc1n2T0b8yYl6sWm4dKf5hPa9eRi0uVg2wBxE", device = "gate 3" })
            .DeclaresProblem(StatusCodes.Status409Conflict, "Already checked in (checked_in_at, checked_in_by, device name it), outside the check-in window (opens_at, closes_at name it), or a flight ticket without a passenger name.")
            .DeclaresProblem(StatusCodes.Status410Gone, "The ticket is void: its seat was cancelled or refunded.")
            .DeclaresProblem(StatusCodes.Status422UnprocessableEntity, "The ticket is for another show.");

    internal static async Task<Results<Ok<Response>, ValidationProblem, ProblemHttpResult>> HandleAsync(
        long showId, Request request, HttpContext http, NpgsqlDataSource db, SeatFeedAnnouncer announcer, IOptions<BoardingOptions> options, TimeProvider time, CancellationToken cancellationToken)
    {
        var validation = new Validation()
            .Require(request.Code is { Length: >= 1 and <= 200 }, "code", "Required: the ticket's code.")
            .Require(request.Device is null or { Length: >= 1 and <= 100 }, "device", "1 to 100 characters.");
        if (!validation.IsValid)
        {
            return validation.Problem();
        }

        var now = time.GetUtcNow();
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        string kind;
        DateTimeOffset startsAt, endsAt;
        await using (var show = new NpgsqlCommand(ShowSql, connection).With("show_id", showId))
        {
            ShowOwnership.Bind(show.Parameters, http.User);
            await using var reader = await show.ExecuteReaderAsync(cancellationToken);
            if (!await reader.ReadAsync(cancellationToken))
            {
                return Problems.NotFound("Show");
            }

            (kind, startsAt, endsAt) = (reader.Get<string>("kind"), reader.Get<DateTimeOffset>("starts_at"), reader.Get<DateTimeOffset>("ends_at"));
        }

        var (opens, closes) = options.Value.Window(kind, startsAt, endsAt);
        if (now < opens || now >= closes)
        {
            return Problems.Conflict("Check-in is closed.", $"Check-in for this show is open from {opens:u} to {closes:u} (UTC).",
                new Dictionary<string, object?> { ["opens_at"] = opens, ["closes_at"] = closes });
        }

        Response? admitted = null;
        await using (var seats = await SeatTransaction.BeginAsync(connection, announcer, cancellationToken))
        {
            await using (var admit = new NpgsqlCommand(AdmitSql, connection))
            {
                admit.With("code", request.Code!).With("show_id", showId).With("now", now).With("user_id", http.User.UserId()).With("device", request.Device)
                    .With("names_required", kind == "flight");
                await using var reader = await admit.ExecuteReaderAsync(cancellationToken);
                if (await reader.ReadAsync(cancellationToken))
                {
                    admitted = new Response(reader.Get<long>("ticket_id"), reader.Get<long>("booking_id"), showId, reader.Get<long>("seat_id"),
                        reader.Get<string>("label"), reader.Get<string>("category"), reader.Get<string?>("attendee_name"), reader.Get<DateTimeOffset>("checked_in_at"),
                        reader.Get<long>("checked_in_by"), reader.Get<string?>("checked_in_device"));
                }
            }

            if (admitted is not null)
            {
                // The door count on the seat feed, numbered with the admission (announced on commit).
                await SeatInventory.CheckedInAsync(seats, showId, admitted.SeatId, now, cancellationToken);
                await seats.CommitAsync(cancellationToken);
                return TypedResults.Ok(admitted);
            }

            await seats.RollbackAsync(cancellationToken);
        }

        // Not admitted: say why. Read after the UPDATE, so a scan that lost a race sees the winner.
        await using var why = new NpgsqlCommand(WhySql, connection).With("code", request.Code!);
        await using var row = await why.ExecuteReaderAsync(cancellationToken);
        if (!await row.ReadAsync(cancellationToken))
        {
            return Problems.NotFound("Ticket");
        }

        if (row.Get<long>("show_id") != showId)
        {
            return TypedResults.Problem(title: "Ticket is for another show.", detail: "This ticket does not admit to this show; check the show on the ticket.",
                statusCode: StatusCodes.Status422UnprocessableEntity);
        }

        if (!row.Get<bool>("valid"))
        {
            return TypedResults.Problem(title: "Ticket is void.", detail: "Its seat was cancelled or refunded; it admits no one.", statusCode: StatusCodes.Status410Gone);
        }

        if (row.Get<DateTimeOffset?>("checked_in_at") is { } at)
        {
            var by = row.Get<string?>("checked_in_by_name") ?? $"account {row.Get<long>("checked_in_by")}";
            var device = row.Get<string?>("checked_in_device");
            return Problems.Conflict("Ticket already checked in.",
                $"Seat {row.Get<string>("label")} was admitted at {at:u} by {by}{(device is null ? "" : $" on {device}")}.",
                new Dictionary<string, object?>
                {
                    ["checked_in_at"] = at,
                    ["checked_in_by"] = row.Get<long>("checked_in_by"),
                    ["checked_in_by_name"] = by,
                    ["device"] = device,
                });
        }

        return Problems.Conflict("Passenger name required.", $"Seat {row.Get<string>("label")} has no passenger name; the customer gives it (PUT /bookings/{{id}}/seats/{{seatId}}/name) before check-in closes.");
    }

    // The show, if the caller may board it (owner, staff, admin): its kind and times set the window.
    private static readonly string ShowSql = $"""
        select e.kind, s.starts_at, s.ends_at
        from show s join event e on e.event_id = s.event_id join venue v on v.venue_id = s.venue_id
        where s.show_id = @show_id and {BoardingAccess.Condition}
        """;

    // The admission: one conditional UPDATE. Concurrent scans of one code queue on the ticket's row
    // lock; after the first commits, the others re-check checked_in_at is null, find it set, and
    // update nothing. Only a valid ticket (seat active, booking confirmed) of this show is admitted;
    // a flight's only with a passenger name.
    private const string AdmitSql = """
        update ticket t set checked_in_at = @now, checked_in_by = @user_id, checked_in_device = @device
        from booking_seat bs, booking b, seat se
        where t.code = @code and t.show_id = @show_id and t.checked_in_at is null
          and bs.booking_id = t.booking_id and bs.seat_id = t.seat_id and bs.active
          and b.booking_id = t.booking_id and b.status = 'confirmed'
          and se.seat_id = t.seat_id
          and (not @names_required or t.attendee_name is not null)
        returning t.ticket_id, t.booking_id, t.seat_id, se.label, bs.category, t.attendee_name, t.checked_in_at, t.checked_in_by, t.checked_in_device
        """;

    // Why a scan was refused. The code is unique, so at most one row, of any show.
    private const string WhySql = """
        select t.show_id, bs.active and b.status = 'confirmed' as valid, se.label,
               t.checked_in_at, t.checked_in_by, u.display_name as checked_in_by_name, t.checked_in_device
        from ticket t
        join booking_seat bs on bs.booking_id = t.booking_id and bs.seat_id = t.seat_id
        join booking b on b.booking_id = t.booking_id
        join seat se on se.seat_id = t.seat_id
        left join app_user u on u.app_user_id = t.checked_in_by
        where t.code = @code
        """;
}

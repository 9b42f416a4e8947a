using Carter;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Holdfast.Features.Boarding;

/// <summary>
/// <c>PUT /bookings/{id}/seats/{seatId}/name {name}</c>: the passenger or attendee on a booked
/// seat, shown on the ticket and the manifest. Optional for films and trips; a flight's ticket is
/// not admitted without one. Editable by the booking's customer until check-in closes, and not
/// once the ticket was admitted.
/// </summary>
public sealed class AttendeeNames : ICarterModule
{
    /// <summary>The name.</summary>
    /// <param name="Name">As on the passenger's ID (1 to 200 characters).</param>
    public sealed record Request(string? Name);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app) =>
        app.MapPut("/bookings/{bookingId:long}/seats/{seatId:long}/name", HandleAsync)
            .RequireAuthorization()
            .WithTags("Bookings")
            .WithSummary("Name the passenger or attendee of a seat")
            .WithDescription("For the booking's customer (404 for anyone else, or a seat without a ticket); 409 once check-in closed or the ticket was admitted, or when the ticket is void.")
            .WithRequestExample(new { name = "Ana Lima" })
            .DeclaresProblem(StatusCodes.Status409Conflict, "Check-in has closed, the ticket was admitted, or it is void.");

    internal static async Task<Results<NoContent, ValidationProblem, ProblemHttpResult>> HandleAsync(
        long bookingId, long seatId, Request request, HttpContext http, NpgsqlDataSource db, IOptions<BoardingOptions> options, TimeProvider time,
        CancellationToken cancellationToken)
    {
        var name = request.Name?.Trim();
        var validation = new Validation().Require(name is { Length: >= 1 and <= 200 }, "name", "Required: 1 to 200 characters.");
        if (!validation.IsValid)
        {
            return validation.Problem();
        }

        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using (var read = new NpgsqlCommand(TicketSql, connection).With("booking_id", bookingId).With("seat_id", seatId).With("user_id", http.User.UserId()))
        {
            await using var reader = await read.ExecuteReaderAsync(cancellationToken);
            if (!await reader.ReadAsync(cancellationToken))
            {
                return Problems.NotFound("Ticket");
            }

            if (!reader.Get<bool>("valid"))
            {
                return Problems.Conflict("Ticket is void.", "Its seat was cancelled or refunded.");
            }

            if (reader.Get<DateTimeOffset?>("checked_in_at") is not null)
            {
                return Problems.Conflict("Ticket already checked in.", "The name cannot change after admission.");
            }

            var (_, closes) = options.Value.Window(reader.Get<string>("kind"), reader.Get<DateTimeOffset>("starts_at"), reader.Get<DateTimeOffset>("ends_at"));
            if (time.GetUtcNow() >= closes)
            {
                return Problems.Conflict("Check-in has closed.", $"Names can be changed until check-in closes, at {closes:u} (UTC).",
                    new Dictionary<string, object?> { ["closes_at"] = closes });
            }
        }

        await using (var write = new NpgsqlCommand(NameSql, connection).With("booking_id", bookingId).With("seat_id", seatId).With("name", name!))
        {
            await write.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        return TypedResults.NoContent();
    }

    // The ticket locked (a concurrent check-in waits, then sees the name), with what decides
    // whether it may still change. The customer's own bookings only.
    private const string TicketSql = """
        select bs.active and b.status = 'confirmed' as valid, t.checked_in_at, e.kind, s.starts_at, s.ends_at
        from ticket t
        join booking b on b.booking_id = t.booking_id
        join booking_seat bs on bs.booking_id = t.booking_id and bs.seat_id = t.seat_id
        join show s on s.show_id = t.show_id
        join event e on e.event_id = s.event_id
        where t.booking_id = @booking_id and t.seat_id = @seat_id and b.app_user_id = @user_id
        for update of t
        """;

    // Only while not admitted: the row is locked above, so this is the state just read.
    private const string NameSql = """
        update ticket set attendee_name = @name where booking_id = @booking_id and seat_id = @seat_id and checked_in_at is null
        """;
}

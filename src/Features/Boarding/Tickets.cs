using Carter;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.OpenApi;
using Npgsql;
using QRCoder;

namespace Holdfast.Features.Boarding;

/// <summary>
/// <c>GET /bookings/{id}/tickets</c> and <c>GET /bookings/{id}/tickets/{ticketId}.png</c>: the
/// customer's tickets, one per booked seat, and each one's code as a QR code (PNG). Tickets are
/// issued when the booking is confirmed (SeatInventory's book statement); a ticket whose seat was
/// cancelled or refunded is <c>void</c> and has no QR code any more.
/// </summary>
public sealed class Tickets : ICarterModule
{
    /// <summary>Pixels per QR module in the PNG (a version-4 code with its quiet zone is about 330 px wide).</summary>
    public const int PixelsPerModule = 8;

    /// <summary>A ticket.</summary>
    /// <param name="TicketId">The ticket id.</param>
    /// <param name="Code">What the scanner reads: 43 base64url characters, 244 random bits; not derived from any id.</param>
    /// <param name="Status"><c>valid</c>, <c>checked_in</c> (admitted once, at <paramref name="CheckedInAt"/>) or <c>void</c> (its seat was
    /// cancelled or refunded).</param>
    /// <param name="BookingId">The booking.</param>
    /// <param name="ShowId">The show.</param>
    /// <param name="Title">The event's title, e.g. a flight number and route.</param>
    /// <param name="Venue">Hall, coach or cabin.</param>
    /// <param name="StartsAt">Show start (departure), UTC.</param>
    /// <param name="LocalStartsAt">Show start in <paramref name="TimeZone"/>, with that zone's offset.</param>
    /// <param name="TimeZone">IANA zone the show is sold in.</param>
    /// <param name="SeatId">The seat id.</param>
    /// <param name="Seat">Its label, e.g. <c>12A</c>.</param>
    /// <param name="Category">E.g. <c>economy</c>.</param>
    /// <param name="AttendeeName">Passenger or attendee, when given.</param>
    /// <param name="CheckedInAt">UTC instant it was admitted, if it was.</param>
    /// <param name="QrUrl">Where its QR code is, as a PNG; null when void.</param>
    public sealed record Ticket(long TicketId, string Code, string Status, long BookingId, long ShowId, string Title, string Venue, DateTimeOffset StartsAt,
        DateTimeOffset LocalStartsAt, string TimeZone, long SeatId, string Seat, string Category, string? AttendeeName, DateTimeOffset? CheckedInAt, string? QrUrl);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app)
    {
        app.MapGet("/bookings/{bookingId:long}/tickets", ListAsync)
            .RequireAuthorization()
            .WithTags("Bookings")
            .WithSummary("Get my tickets")
            .WithDescription("One per booked seat, in seat order; none until the booking is confirmed. For the booking's customer; 404 for anyone else.");
        app.MapGet("/bookings/{bookingId:long}/tickets/{ticketId:long}.png", QrAsync)
            .RequireAuthorization()
            .WithTags("Bookings")
            .WithSummary("Get a ticket's QR code")
            .WithDescription("The ticket's code as a QR code (PNG, error correction Q). For the booking's customer; 404 for anyone else, 410 when the ticket is void.")
            .Produces<byte[]>(StatusCodes.Status200OK, "image/png")
            .AddOpenApiOperationTransformer((operation, _, _) =>
            {
                // The PNG's bytes themselves, not base64 text.
                if (operation.Responses?.TryGetValue("200", out var ok) == true && ok.Content?.TryGetValue("image/png", out var png) == true)
                {
                    png.Schema = new OpenApiSchema { Type = JsonSchemaType.String, Format = "binary" };
                }

                return Task.CompletedTask;
            })
            .DeclaresProblem(StatusCodes.Status410Gone, "The ticket is void: its seat was cancelled or refunded.");
    }

    internal static async Task<Results<Ok<List<Ticket>>, ProblemHttpResult>> ListAsync(
        long bookingId, HttpContext http, NpgsqlDataSource db, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand(TicketsSql).With("booking_id", bookingId).With("user_id", http.User.UserId()).With("ticket_id", (long?)null);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var tickets = new List<Ticket>();
        var found = false;
        while (await reader.ReadAsync(cancellationToken))
        {
            found = true;
            if (reader.Get<long?>("ticket_id") is not null)
            {
                tickets.Add(Read(reader));
            }
        }

        return found ? TypedResults.Ok(tickets) : Problems.NotFound("Booking");
    }

    internal static async Task<Results<FileContentHttpResult, ProblemHttpResult>> QrAsync(
        long bookingId, long ticketId, HttpContext http, NpgsqlDataSource db, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand(TicketsSql).With("booking_id", bookingId).With("user_id", http.User.UserId()).With("ticket_id", ticketId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken) || reader.Get<long?>("ticket_id") is null)
        {
            return Problems.NotFound("Ticket");
        }

        var ticket = Read(reader);
        if (ticket.Status == "void")
        {
            return TypedResults.Problem(title: "Ticket is void.", detail: "Its seat was cancelled or refunded; it admits no one.", statusCode: StatusCodes.Status410Gone);
        }

        return TypedResults.File(Png(ticket.Code), "image/png");
    }

    /// <summary>The QR code (error correction Q, <see cref="PixelsPerModule"/> px per module) of <paramref name="code"/>, as PNG bytes.</summary>
    public static byte[] Png(string code)
    {
        using var generator = new QRCodeGenerator();
        using var data = generator.CreateQrCode(code, QRCodeGenerator.ECCLevel.Q);
        return new PngByteQRCode(data).GetGraphic(PixelsPerModule);
    }

    private static Ticket Read(NpgsqlDataReader reader)
    {
        var status = reader.Get<string>("status");
        var bookingId = reader.Get<long>("booking_id");
        var ticketId = reader.Get<long>("ticket_id");
        return new Ticket(ticketId, reader.Get<string>("code"), status, bookingId, reader.Get<long>("show_id"), reader.Get<string>("title"),
            reader.Get<string>("venue"), reader.Get<DateTimeOffset>("starts_at"),
            LocalTime.WithOffset(reader.Get<DateTime>("starts_at"), reader.Get<DateTime>("local_starts_at")), reader.Get<string>("time_zone"),
            reader.Get<long>("seat_id"), reader.Get<string>("label"), reader.Get<string>("category"), reader.Get<string?>("attendee_name"),
            reader.Get<DateTimeOffset?>("checked_in_at"), status == "void" ? null : $"/bookings/{bookingId}/tickets/{ticketId}.png");
    }

    // The booking's row comes back even without tickets (left join), so an own booking with none
    // yet is an empty list and someone else's is 404. A ticket is void once its seat is no longer
    // active or its booking no longer confirmed: derived, so every way a seat goes back voids it.
    private const string TicketsSql = """
        select b.booking_id, b.show_id, e.title, v.name as venue, s.starts_at, s.starts_at at time zone s.time_zone as local_starts_at, s.time_zone,
               t.ticket_id, t.code, t.seat_id, se.label, bs.category, t.attendee_name, t.checked_in_at,
               case when not bs.active or b.status <> 'confirmed' then 'void'
                    when t.checked_in_at is not null then 'checked_in'
                    else 'valid' end as status
        from booking b
        join show s on s.show_id = b.show_id
        join event e on e.event_id = s.event_id
        join venue v on v.venue_id = s.venue_id
        left join ticket t on t.booking_id = b.booking_id and (@ticket_id::bigint is null or t.ticket_id = @ticket_id)
        left join booking_seat bs on bs.booking_id = t.booking_id and bs.seat_id = t.seat_id
        left join seat se on se.seat_id = t.seat_id
        where b.booking_id = @booking_id and b.app_user_id = @user_id
        order by t.seat_id
        """;
}

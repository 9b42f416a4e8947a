using System.Globalization;
using System.Text;
using Carter;
using Holdfast.Features.Catalogue;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.OpenApi;
using Npgsql;

namespace Holdfast.Features.Boarding;

/// <summary>
/// <c>GET /shows/{id}/manifest</c>: who is expected and who is in, per sold seat, for the show's
/// organizer, their staff and admins; as JSON, or as CSV (RFC 4180) with <c>?format=csv</c> or
/// <c>Accept: text/csv</c>.
/// </summary>
public sealed class Manifest : ICarterModule
{
    /// <summary>One sold seat.</summary>
    /// <param name="SeatId">The seat id.</param>
    /// <param name="Seat">Its label, e.g. <c>12A</c>.</param>
    /// <param name="Category">E.g. <c>economy</c>.</param>
    /// <param name="BookingId">The booking.</param>
    /// <param name="TicketId">The ticket.</param>
    /// <param name="TicketCode">The ticket's code, masked to its last 6 characters (the manifest is no way to forge tickets).</param>
    /// <param name="AttendeeName">Passenger or attendee, when given.</param>
    /// <param name="CustomerName">Who booked.</param>
    /// <param name="Status"><c>valid</c> (expected), <c>checked_in</c> or <c>void</c> (cancelled or refunded).</param>
    /// <param name="CheckedInAt">UTC instant of admission, if admitted.</param>
    /// <param name="CheckedInBy">Who admitted it.</param>
    public sealed record Entry(long SeatId, string Seat, string Category, long BookingId, long TicketId, string TicketCode, string? AttendeeName,
        string CustomerName, string Status, DateTimeOffset? CheckedInAt, long? CheckedInBy);

    /// <summary>A show's manifest.</summary>
    /// <param name="ShowId">The show.</param>
    /// <param name="Title">The event's title.</param>
    /// <param name="StartsAt">Show start (departure), UTC.</param>
    /// <param name="Expected">Tickets not void: the people who may come.</param>
    /// <param name="Admitted">Of those, checked in.</param>
    /// <param name="Entries">In seat order.</param>
    public sealed record Response(long ShowId, string Title, DateTimeOffset StartsAt, int Expected, int Admitted, IReadOnlyList<Entry> Entries);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app) =>
        app.MapGet("/shows/{showId:long}/manifest", HandleAsync)
            .RequireAuthorization()
            .WithTags("Boarding")
            .WithSummary("Get a show's manifest")
            .WithDescription("For the show's organizer, their staff and admins (404 for anyone else). JSON, or CSV (RFC 4180: CRLF, quotes doubled) with format=csv or Accept: text/csv.")
            .DeclaresQuery(new QueryParameterMetadata("format", "csv for a CSV file; JSON otherwise.", Enum: ["json", "csv"]))
            .AddOpenApiOperationTransformer((operation, _, _) =>
            {
                // The same 200 as CSV: a second content type of the JSON answer, not a second body type.
                if (operation.Responses?.TryGetValue("200", out var ok) == true && ok.Content is { } content)
                {
                    content["text/csv"] = new OpenApiMediaType { Schema = new OpenApiSchema { Type = JsonSchemaType.String } };
                }

                return Task.CompletedTask;
            });

    internal static async Task<Results<Ok<Response>, ContentHttpResult, ProblemHttpResult>> HandleAsync(
        long showId, HttpContext http, NpgsqlDataSource db, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand(ManifestSql).With("show_id", showId);
        ShowOwnership.Bind(command.Parameters, http.User);
        Response? manifest = null;
        var entries = new List<Entry>();
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                manifest ??= new Response(showId, reader.Get<string>("title"), reader.Get<DateTimeOffset>("starts_at"), reader.Get<int>("expected"),
                    reader.Get<int>("admitted"), entries);
                if (reader.Get<long?>("ticket_id") is { } ticketId)
                {
                    entries.Add(new Entry(reader.Get<long>("seat_id"), reader.Get<string>("label"), reader.Get<string>("category"), reader.Get<long>("booking_id"),
                        ticketId, reader.Get<string>("masked_code"), reader.Get<string?>("attendee_name"), reader.Get<string>("customer_name"),
                        reader.Get<string>("status"), reader.Get<DateTimeOffset?>("checked_in_at"), reader.Get<long?>("checked_in_by")));
                }
            }
        }

        if (manifest is null)
        {
            return Problems.NotFound("Show");
        }

        var wantsCsv = string.Equals(http.Request.Query["format"], "csv", StringComparison.OrdinalIgnoreCase)
            || (http.Request.Query["format"].Count == 0 && http.Request.GetTypedHeaders().Accept.Any(a => a.MediaType.Equals("text/csv", StringComparison.OrdinalIgnoreCase)));
        return wantsCsv ? TypedResults.Text(Csv(manifest), "text/csv; charset=utf-8", Encoding.UTF8) : TypedResults.Ok(manifest);
    }

    /// <summary>The manifest as RFC 4180 CSV: a header row, CRLF line ends, fields with a comma, quote or line break quoted, quotes doubled.</summary>
    public static string Csv(Response manifest)
    {
        var csv = new StringBuilder();
        Row(csv, "seat", "category", "booking_id", "ticket_id", "ticket_code", "attendee_name", "customer_name", "status", "checked_in_at", "checked_in_by");
        foreach (var e in manifest.Entries)
        {
            Row(csv, e.Seat, e.Category, Invariant(e.BookingId), Invariant(e.TicketId), e.TicketCode, e.AttendeeName, e.CustomerName, e.Status,
                e.CheckedInAt?.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture), e.CheckedInBy is { } by ? Invariant(by) : null);
        }

        return csv.ToString();
    }

    private static string Invariant(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static void Row(StringBuilder csv, params string?[] fields)
    {
        csv.AppendJoin(',', fields.Select(Field));
        csv.Append("\r\n");
    }

    // RFC 4180 §2.6–2.7; a field a spreadsheet would run as a formula (= + - @ first) is prefixed
    // with an apostrophe (OWASP CSV injection): names come from customers.
    private static string Field(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return "";
        }

        if (value[0] is '=' or '+' or '-' or '@' or '\t' or '\r')
        {
            value = "'" + value;
        }

        return value.IndexOfAny([',', '"', '\r', '\n']) >= 0 ? $"\"{value.Replace("\"", "\"\"", StringComparison.Ordinal)}\"" : value;
    }

    // The show's row comes back even with no tickets (left join), so an empty manifest is 200 and
    // a show the caller may not board is 404. Void: seat no longer active or booking not confirmed.
    private static readonly string ManifestSql = $"""
        with shown as (
          select s.show_id, e.title, s.starts_at
          from show s join event e on e.event_id = s.event_id join venue v on v.venue_id = s.venue_id
          where s.show_id = @show_id and {BoardingAccess.Condition}
        ), entries as (
          select t.ticket_id, t.seat_id, se.label, bs.category, t.booking_id, '…' || right(t.code, 6) as masked_code, t.attendee_name,
                 u.display_name as customer_name, t.checked_in_at, t.checked_in_by,
                 case when not bs.active or b.status <> 'confirmed' then 'void'
                      when t.checked_in_at is not null then 'checked_in'
                      else 'valid' end as status
          from ticket t
          join booking_seat bs on bs.booking_id = t.booking_id and bs.seat_id = t.seat_id
          join booking b on b.booking_id = t.booking_id
          join app_user u on u.app_user_id = b.app_user_id
          join seat se on se.seat_id = t.seat_id
          where t.show_id = @show_id and exists (select 1 from shown)
        )
        select shown.title, shown.starts_at,
               (select count(*) filter (where status <> 'void') from entries)::int as expected,
               (select count(*) filter (where status = 'checked_in') from entries)::int as admitted,
               en.ticket_id, en.seat_id, en.label, en.category, en.booking_id, en.masked_code, en.attendee_name, en.customer_name,
               en.status, en.checked_in_at, en.checked_in_by
        from shown left join entries en on true
        order by en.seat_id, en.ticket_id
        """;
}

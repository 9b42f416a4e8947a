using Carter;
using Holdfast.Features.Catalogue;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace Holdfast.Features.Reports;

/// <summary>
/// <c>GET /reports/shows</c>: per show the organizer owns (all shows for admins) starting in a time
/// range: seats sold, held and available, and revenue from active booked seats.
/// </summary>
public sealed class ShowSalesReport : ICarterModule
{
    /// <summary>One show's figures.</summary>
    /// <param name="ShowId">The show.</param>
    /// <param name="Title">The event's title.</param>
    /// <param name="StartsAt">UTC.</param>
    /// <param name="Status">The show's status.</param>
    /// <param name="Sold">Seats booked.</param>
    /// <param name="Held">Seats held now.</param>
    /// <param name="Available">Seats available now.</param>
    /// <param name="RevenueMinor">Sum of active booked seats' prices, minor units of <paramref name="Currency"/>.</param>
    /// <param name="Currency">ISO 4217.</param>
    public sealed record Row(long ShowId, string Title, DateTimeOffset StartsAt, string Status, int Sold, int Held, int Available, long RevenueMinor, string Currency);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app) =>
        app.MapGet("/reports/shows", HandleAsync)
            .RequireAuthorization(Roles.Organizer)
            .WithTags("Reports")
            .WithSummary("Sales per show")
            .WithDescription("Query: from, to (UTC, on starts_at; default the next 30 days), limit (1–500, default 100). " +
                             "Organizers see shows whose venue or event they own; admins see all.");

    internal static async Task<Results<Ok<List<Row>>, ValidationProblem>> HandleAsync(
        DateTimeOffset? from, DateTimeOffset? to, [System.ComponentModel.DataAnnotations.Range(1, 500)] int? limit, HttpContext http, NpgsqlDataSource db, TimeProvider time, CancellationToken cancellationToken)
    {
        var start = from ?? time.GetUtcNow();
        var end = to ?? start.AddDays(30);
        var validation = new Validation()
            .Require(end > start, "to", "Must be after from.")
            .Require(limit is null or (>= 1 and <= 500), "limit", "Must be 1 to 500.");
        if (!validation.IsValid)
        {
            return validation.Problem();
        }

        await using var command = db.CreateCommand(ReportSql);
        command.With("from", start.ToUniversalTime());
        command.With("to", end.ToUniversalTime());
        ShowOwnership.Bind(command.Parameters, http.User);
        command.With("limit", limit ?? 100);
        var rows = new List<Row>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new Row(reader.Get<long>("show_id"), reader.Get<string>("title"), reader.Get<DateTimeOffset>("starts_at"), reader.Get<string>("status"),
                reader.Get<int>("sold"), reader.Get<int>("held"), reader.Get<int>("available"), reader.Get<long>("revenue_minor"), reader.Get<string>("currency")));
        }

        return TypedResults.Ok(rows);
    }

    // Counted from the seat rows themselves, never from a counter that could drift (GUIDE §7).
    private const string ReportSql = $$"""
        select s.show_id, e.title, s.starts_at, s.status,
               count(*) filter (where ss.state = 'booked')::int as sold,
               count(*) filter (where ss.state = 'held')::int as held,
               count(*) filter (where ss.state = 'available')::int as available,
               coalesce((select sum(bs.price_minor) from booking_seat bs where bs.show_id = s.show_id and bs.active), 0)::bigint as revenue_minor,
               s.currency
        from show s
        join event e on e.event_id = s.event_id
        join venue v on v.venue_id = s.venue_id
        join show_seat ss on ss.show_id = s.show_id
        where s.starts_at >= @from and s.starts_at < @to
          and {{ShowOwnership.Condition}}
        group by s.show_id, e.title
        order by s.starts_at, s.show_id
        limit @limit
        """;
}

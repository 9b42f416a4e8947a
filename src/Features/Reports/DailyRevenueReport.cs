using Carter;
using Holdfast.Features.Catalogue;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace Holdfast.Features.Reports;

/// <summary>
/// <c>GET /reports/revenue/daily</c>: revenue per day and currency from bookings confirmed on the
/// organizer's shows (all for admins), by UTC date of confirmation. Currencies are never summed together.
/// </summary>
public sealed class DailyRevenueReport : ICarterModule
{
    /// <summary>One day's revenue in one currency.</summary>
    /// <param name="Date">UTC date of confirmation.</param>
    /// <param name="Currency">ISO 4217.</param>
    /// <param name="Bookings">Bookings confirmed that day.</param>
    /// <param name="RevenueMinor">Their active seats' prices, minor units.</param>
    public sealed record Row(DateOnly Date, string Currency, int Bookings, long RevenueMinor);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app) =>
        app.MapGet("/reports/revenue/daily", HandleAsync)
            .RequireAuthorization(Roles.Organizer)
            .WithTags("Reports")
            .WithSummary("Revenue per day")
            .WithDescription("Query: from, to (yyyy-MM-dd, UTC dates, inclusive; default the last 30 days). Organizers see their shows; admins all.");

    internal static async Task<Results<Ok<List<Row>>, ValidationProblem>> HandleAsync(
        DateOnly? from, DateOnly? to, HttpContext http, NpgsqlDataSource db, TimeProvider time, CancellationToken cancellationToken)
    {
        var today = DateOnly.FromDateTime(time.GetUtcNow().UtcDateTime);
        var last = to ?? today;
        var first = from ?? last.AddDays(-29);
        var validation = new Validation()
            .Require(last >= first, "to", "Must not be before from.")
            .Require(last.DayNumber - first.DayNumber <= 366, "from", "At most 366 days at a time.");
        if (!validation.IsValid)
        {
            return validation.Problem();
        }

        await using var command = db.CreateCommand(ReportSql);
        command.With("from", new DateTimeOffset(first.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero));
        command.With("to", new DateTimeOffset(last.AddDays(1).ToDateTime(TimeOnly.MinValue), TimeSpan.Zero));
        ShowOwnership.Bind(command.Parameters, http.User);
        var rows = new List<Row>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new Row(reader.Get<DateOnly>("day"), reader.Get<string>("currency"), reader.Get<int>("bookings"), reader.Get<long>("revenue_minor")));
        }

        return TypedResults.Ok(rows);
    }

    private const string ReportSql = $$"""
        select (b.confirmed_at at time zone 'UTC')::date as day, b.currency, count(distinct b.booking_id)::int as bookings,
               coalesce(sum(bs.price_minor) filter (where bs.active), 0)::bigint as revenue_minor
        from booking b
        join show s on s.show_id = b.show_id
        join event e on e.event_id = s.event_id
        join venue v on v.venue_id = s.venue_id
        join booking_seat bs on bs.booking_id = b.booking_id
        where b.confirmed_at >= @from and b.confirmed_at < @to
          and {{ShowOwnership.Condition}}
        group by day, b.currency
        order by day, b.currency
        """;
}

using Carter;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Npgsql;

namespace Holdfast.Features.Checkout;

/// <summary>
/// <c>GET /me/bookings</c>: the signed-in customer's own bookings, newest first, keyset-paged by
/// <c>before_id</c>, filtered by status and by whether the show is still to come.
/// </summary>
public sealed class MyBookings : ICarterModule
{
    private static readonly string[] Statuses = ["pending_payment", "confirmed", "cancelled", "expired", "refunded"];

    /// <summary>One of my bookings.</summary>
    /// <param name="BookingId">The booking; pass the page's last one as <c>before_id</c> for the next page.</param>
    /// <param name="Status">pending_payment, confirmed, cancelled, expired or refunded.</param>
    /// <param name="ShowId">The show.</param>
    /// <param name="Title">The event's title.</param>
    /// <param name="StartsAt">Show start (departure), UTC.</param>
    /// <param name="LocalStartsAt">Show start in <paramref name="TimeZone"/>, with that zone's offset.</param>
    /// <param name="TimeZone">IANA zone the show is sold in.</param>
    /// <param name="Currency">ISO 4217 code.</param>
    /// <param name="TotalMinor">Total, in minor units.</param>
    /// <param name="SeatCount">Seats still in the booking (cancelled seats are not counted once sold).</param>
    /// <param name="CreatedAt">UTC.</param>
    public sealed record Item(long BookingId, string Status, long ShowId, string Title, DateTimeOffset StartsAt, DateTimeOffset LocalStartsAt, string TimeZone,
        string Currency, long TotalMinor, int SeatCount, DateTimeOffset CreatedAt);

    /// <summary>A page of bookings.</summary>
    /// <param name="Items">Newest first.</param>
    /// <param name="NextBeforeId">Pass as <c>before_id</c> for the next page; null on the last page.</param>
    public sealed record Page(IReadOnlyList<Item> Items, long? NextBeforeId);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app) =>
        app.MapGet("/me/bookings", HandleAsync)
            .RequireAuthorization()
            .WithTags("Bookings")
            .WithSummary("List my bookings")
            .WithDescription("Newest first. Query: status, when (upcoming: the show has not started; past: it has), limit (1–100, default 20), before_id (keyset).");

    internal static async Task<Results<Ok<Page>, ValidationProblem>> HandleAsync(
        string? status, string? when, int? limit, [FromQuery(Name = "before_id")] long? beforeId,
        HttpContext http, NpgsqlDataSource db, TimeProvider time, CancellationToken cancellationToken)
    {
        var validation = new Validation()
            .Require(status is null || Statuses.Contains(status), "status", $"One of {string.Join(", ", Statuses)}.")
            .Require(when is null or "upcoming" or "past", "when", "upcoming or past.")
            .Require(limit is null or (>= 1 and <= 100), "limit", "Must be 1 to 100.");
        if (!validation.IsValid)
        {
            return validation.Problem();
        }

        var size = limit ?? 20;
        await using var command = db.CreateCommand(ListSql);
        command.With("user_id", http.User.UserId());
        command.With("status", status);
        command.With("when", when);
        command.With("now", time.GetUtcNow());
        command.With("before_id", beforeId ?? long.MaxValue);
        command.With("limit", size + 1);
        var items = new List<Item>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            items.Add(new Item(reader.Get<long>("booking_id"), reader.Get<string>("status"), reader.Get<long>("show_id"), reader.Get<string>("title"),
                reader.Get<DateTimeOffset>("starts_at"), LocalTime.WithOffset(reader.Get<DateTime>("starts_at"), reader.Get<DateTime>("local_starts_at")),
                reader.Get<string>("time_zone"), reader.Get<string>("currency"), reader.Get<long>("total_minor"), reader.Get<int>("seat_count"),
                reader.Get<DateTimeOffset>("created_at")));
        }

        return TypedResults.Ok(items.Count > size ? new Page(items[..size], items[size - 1].BookingId) : new Page(items, null));
    }

    // Newest first by id (booking_user_idx serves the owner's rows). Seats: sold ones still active
    // once sold, else the hold's (a pending booking has no sold seats yet).
    private const string ListSql = """
        select b.booking_id, b.status, b.show_id, e.title, s.starts_at, s.starts_at at time zone s.time_zone as local_starts_at, s.time_zone,
               b.currency::text as currency, b.total_minor, b.created_at,
               coalesce((select count(*) filter (where bs.active) from booking_seat bs where bs.booking_id = b.booking_id having count(*) > 0),
                        (select count(*) from hold_seat hs where hs.hold_id = b.hold_id))::int as seat_count
        from booking b
        join show s on s.show_id = b.show_id
        join event e on e.event_id = s.event_id
        where b.app_user_id = @user_id and b.booking_id < @before_id
          and (@status::text is null or b.status = @status)
          and (@when::text is null or (@when = 'upcoming') = (s.starts_at > @now))
        order by b.booking_id desc
        limit @limit
        """;
}

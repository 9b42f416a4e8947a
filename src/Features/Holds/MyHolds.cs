using Carter;
using Holdfast.Features.Inventory;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Npgsql;

namespace Holdfast.Features.Holds;

/// <summary>
/// <c>GET /me/holds</c>: the signed-in customer's own holds, newest first, keyset-paged by
/// <c>before_id</c>, filtered by status and by whether the show is still to come.
/// </summary>
public sealed class MyHolds : ICarterModule
{
    private static readonly string[] Statuses = ["active", "booked", "released", "expired"];

    /// <summary>One of my holds.</summary>
    /// <param name="HoldId">The hold; pass the page's last one as <c>before_id</c> for the next page.</param>
    /// <param name="ShowId">The show.</param>
    /// <param name="Title">The event's title.</param>
    /// <param name="StartsAt">Show start (departure), UTC.</param>
    /// <param name="Status"><c>active</c>, <c>booked</c>, <c>released</c> or <c>expired</c> (a hold past its expiry is expired
    /// even before the expiry job has run).</param>
    /// <param name="ExpiresAt">UTC instant its seats are released unless booked.</param>
    /// <param name="Currency">ISO 4217 code.</param>
    /// <param name="TotalMinor">Sum of the locked seat prices, in minor units.</param>
    /// <param name="SeatCount">Seats held.</param>
    /// <param name="CreatedAt">UTC.</param>
    public sealed record Item(long HoldId, long ShowId, string Title, DateTimeOffset StartsAt, string Status, DateTimeOffset ExpiresAt, string Currency,
        long TotalMinor, int SeatCount, DateTimeOffset CreatedAt);

    /// <summary>A page of holds.</summary>
    /// <param name="Items">Newest first.</param>
    /// <param name="NextBeforeId">Pass as <c>before_id</c> for the next page; null on the last page.</param>
    public sealed record Page(IReadOnlyList<Item> Items, long? NextBeforeId);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app) =>
        app.MapGet("/me/holds", HandleAsync)
            .RequireAuthorization()
            .WithTags("Holds")
            .WithSummary("List my holds")
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
            items.Add(new Item(reader.Get<long>("hold_id"), reader.Get<long>("show_id"), reader.Get<string>("title"), reader.Get<DateTimeOffset>("starts_at"),
                reader.Get<string>("status"), reader.Get<DateTimeOffset>("expires_at"), reader.Get<string>("currency"), reader.Get<long>("total_minor"),
                reader.Get<int>("seat_count"), reader.Get<DateTimeOffset>("created_at")));
        }

        return TypedResults.Ok(items.Count > size ? new Page(items[..size], items[size - 1].HoldId) : new Page(items, null));
    }

    // Newest first by id. The status is derived as GET /holds/{id} derives it: an active hold past
    // its expiry is expired from that instant, whether or not the job has run yet.
    private const string ListSql = $"""
        select hold_id, show_id, title, starts_at, status, expires_at, currency, total_minor, seat_count, created_at
        from (
          select h.hold_id, h.show_id, e.title, s.starts_at,
                 {SeatInventory.HoldStatusSql} as status,
                 h.expires_at, h.currency::text as currency, h.total_minor, h.seat_count, h.created_at
          from hold h
          join show s on s.show_id = h.show_id
          join event e on e.event_id = s.event_id
          where h.app_user_id = @user_id and h.hold_id < @before_id
            and (@when::text is null or (@when = 'upcoming') = (s.starts_at > @now))
        ) mine
        where @status::text is null or status = @status
        order by hold_id desc
        limit @limit
        """;
}

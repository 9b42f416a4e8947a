using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Text.Json;
using Carter;
using Holdfast.Features.Catalogue;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Caching;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;
using Npgsql;
using FromQueryAttribute = Microsoft.AspNetCore.Mvc.FromQueryAttribute;

namespace Holdfast.Features.Shows;

/// <summary>
/// <c>GET /organizer/shows</c>: the shows an organizer manages (whose venue or event they own; every
/// show for an admin), by start then id, keyset-paged with an opaque cursor and an <c>ETag</c>, each
/// with its sales figures counted from its seat rows (never a counter that could drift, GUIDE §7).
/// </summary>
public sealed class OrganizerShows : ICarterModule
{
    /// <summary>Most items per page.</summary>
    public const int MaxLimit = 200;

    /// <summary>A show and how it sells.</summary>
    /// <param name="ShowId">The show.</param>
    /// <param name="EventId">Its event.</param>
    /// <param name="Title">The event's title.</param>
    /// <param name="Kind"><c>film</c>, <c>flight</c> or <c>trip</c>.</param>
    /// <param name="VenueId">Its venue.</param>
    /// <param name="VenueName">The venue's name.</param>
    /// <param name="StartsAt">UTC.</param>
    /// <param name="LocalStartsAt">Local to <paramref name="TimeZone"/>, with its offset.</param>
    /// <param name="TimeZone">IANA zone of the show.</param>
    /// <param name="Status">The show's status (<c>on_sale</c>, <c>cancelled</c>, …).</param>
    /// <param name="Sold">Seats booked.</param>
    /// <param name="Held">Seats held now.</param>
    /// <param name="Available">Seats on sale now.</param>
    /// <param name="Blocked">Seats kept off sale.</param>
    /// <param name="RevenueMinor">Sum of the active booked seats' prices, in minor units of <paramref name="Currency"/>.</param>
    /// <param name="Currency">ISO 4217 code.</param>
    /// <param name="CheckedIn">Tickets admitted so far.</param>
    public sealed record Item(long ShowId, long EventId, string Title, string Kind, long VenueId, string VenueName, DateTimeOffset StartsAt,
        DateTimeOffset LocalStartsAt, string TimeZone, string Status, int Sold, int Held, int Available, int Blocked, long RevenueMinor, string Currency, int CheckedIn);

    /// <summary>A page of shows.</summary>
    /// <param name="Items">Shows by start, then id.</param>
    /// <param name="NextCursor">Pass as <c>cursor</c> for the next page; null on the last page.</param>
    public sealed record Page(IReadOnlyList<Item> Items, string? NextCursor);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app) =>
        app.MapGet("/organizer/shows", HandleAsync)
            .RequireAuthorization(Roles.Organizer)
            .WithTags("Reports")
            .WithSummary("List my shows with sales")
            .WithDescription("Organizers: shows whose venue or event they own; admins: every show. By start, then id; filters combine with AND. " +
                             "Seats sold, held, available and blocked, revenue in minor units of the show's currency, and check-ins.")
            .Produces<Page>(StatusCodes.Status200OK)
            .AnswersWithETag();

    internal static async Task<IResult> HandleAsync(
        [Description("Shows starting at or after this instant (UTC or with an offset).")] DateTimeOffset? from,
        [Description("Shows starting before this instant.")] DateTimeOffset? to,
        [Description("Only shows in this status."), AllowedValues("scheduled", "on_sale", "closed", "departed", "completed", "cancelled", null)] string? status,
        [Description("Only shows of this event."), FromQuery(Name = "event_id")] long? eventId,
        [Description("Only shows at this venue."), FromQuery(Name = "venue_id")] long? venueId,
        [Description("Only shows at venues of this group."), FromQuery(Name = "venue_group_id")] long? venueGroupId,
        [Description("`next_cursor` of the previous page."), MaxLength(60)] string? cursor,
        [Description("Items per page (default 50)."), Range(1, MaxLimit)] int? limit,
        HttpContext http, NpgsqlDataSource db, IOptions<JsonOptions> json, CancellationToken cancellationToken)
    {
        var after = Decode(cursor);
        var validation = new Validation()
            .Require(status is null or "scheduled" or "on_sale" or "closed" or "departed" or "completed" or "cancelled", "status", "Not a show status.")
            .Require(from is null || to is null || to > from, "to", "Must be after from.")
            .Require(cursor is null || after is not null, "cursor", "Not a cursor from a previous page.")
            .Require(limit is null or (>= 1 and <= MaxLimit), "limit", $"Must be 1 to {MaxLimit}.");
        if (!validation.IsValid)
        {
            return validation.Problem();
        }

        await using var command = db.CreateCommand(ListSql);
        var size = limit ?? 50;
        ShowOwnership.Bind(command.Parameters, http.User);
        command.With("from", from?.ToUniversalTime()).With("to", to?.ToUniversalTime()).With("status", status).With("event_id", eventId)
            .With("venue_id", venueId).With("group", venueGroupId).With("after_starts_at", after?.StartsAt ?? DateTimeOffset.MinValue.ToUniversalTime())
            .With("after_id", after?.ShowId ?? 0).With("limit", size + 1);
        var items = new List<Item>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            items.Add(new Item(reader.Get<long>("show_id"), reader.Get<long>("event_id"), reader.Get<string>("title"), reader.Get<string>("kind"),
                reader.Get<long>("venue_id"), reader.Get<string>("venue_name"), reader.Get<DateTimeOffset>("starts_at"),
                LocalTime.WithOffset(reader.Get<DateTime>("starts_at"), reader.Get<DateTime>("local_starts_at")), reader.Get<string>("time_zone"),
                reader.Get<string>("status"), reader.Get<int>("sold"), reader.Get<int>("held"), reader.Get<int>("available"), reader.Get<int>("blocked"),
                reader.Get<long>("revenue_minor"), reader.Get<string>("currency"), reader.Get<int>("checked_in")));
        }

        var page = items.Count > size ? new Page(items[..size], Encode(items[size - 1])) : new Page(items, null);
        return ReadCache.WriteWithETag(http, JsonSerializer.SerializeToUtf8Bytes(page, json.Value.SerializerOptions));
    }

    // The cursor is the last row's start (UTC ticks: exact, as timestamptz keeps microseconds) and id.
    private static string Encode(Item last) => $"{last.StartsAt.UtcTicks.ToString(CultureInfo.InvariantCulture)}.{last.ShowId.ToString(CultureInfo.InvariantCulture)}";

    private static (DateTimeOffset StartsAt, long ShowId)? Decode(string? cursor)
    {
        var parts = cursor?.Split('.');
        return parts is [var ticks, var id]
               && long.TryParse(ticks, NumberStyles.None, CultureInfo.InvariantCulture, out var t) && t <= DateTimeOffset.MaxValue.UtcTicks
               && long.TryParse(id, NumberStyles.None, CultureInfo.InvariantCulture, out var i)
            ? (new DateTimeOffset(t, TimeSpan.Zero), i)
            : null;
    }

    // Keyset on (starts_at, show_id). Seat figures from one grouped scan of the show's seat rows;
    // revenue from the active booked seats (as /reports/shows); check-ins from the show's tickets.
    private const string ListSql = $$"""
        select s.show_id, s.event_id, e.title, e.kind, s.venue_id, v.name as venue_name, s.starts_at,
               s.starts_at at time zone s.time_zone as local_starts_at, s.time_zone, s.status, s.currency,
               c.sold, c.held, c.available, c.blocked,
               coalesce((select sum(bs.price_minor) from booking_seat bs where bs.show_id = s.show_id and bs.active), 0)::bigint as revenue_minor,
               (select count(*)::int from ticket t where t.show_id = s.show_id and t.checked_in_at is not null) as checked_in
        from show s
        join event e on e.event_id = s.event_id
        join venue v on v.venue_id = s.venue_id
        cross join lateral (
          select count(*) filter (where ss.state = 'booked')::int as sold,
                 count(*) filter (where ss.state = 'held')::int as held,
                 count(*) filter (where ss.state = 'available')::int as available,
                 count(*) filter (where ss.state = 'blocked')::int as blocked
          from show_seat ss where ss.show_id = s.show_id
        ) c
        where {{ShowOwnership.Condition}}
          and (s.starts_at, s.show_id) > (@after_starts_at, @after_id)
          and (@from::timestamptz is null or s.starts_at >= @from)
          and (@to::timestamptz is null or s.starts_at < @to)
          and (@status::text is null or s.status = @status)
          and (@event_id::bigint is null or s.event_id = @event_id)
          and (@venue_id::bigint is null or s.venue_id = @venue_id)
          and (@group::bigint is null or v.venue_group_id = @group)
        order by s.starts_at, s.show_id
        limit @limit
        """;
}

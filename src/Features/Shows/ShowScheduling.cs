using System.Security.Claims;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace Holdfast.Features.Shows;

/// <summary>One show to write: what <c>POST /shows</c> takes, and each occurrence of a timetable.</summary>
/// <param name="EventId">An event the caller owns (any event for an admin).</param>
/// <param name="VenueId">A venue the caller owns (any venue for an admin).</param>
/// <param name="StartsAt">UTC instant of the start.</param>
/// <param name="Currency">ISO 4217 code.</param>
/// <param name="Prices">Category → price per seat in minor units of <paramref name="Currency"/>.</param>
/// <param name="SalesOpensAt">UTC instant holds open.</param>
/// <param name="SalesClosesAt">UTC instant holds close (not after the start).</param>
internal sealed record NewShow(long EventId, long VenueId, DateTimeOffset StartsAt, string Currency, IReadOnlyDictionary<string, long> Prices,
    DateTimeOffset SalesOpensAt, DateTimeOffset SalesClosesAt);

/// <summary>
/// The rules every new show obeys, in one place for <c>POST /shows</c> (<see cref="CreateShow"/>) and
/// <c>POST /shows/timetable</c> (<see cref="ScheduleShows"/>): the event and venue are the caller's
/// (or the caller is an admin), neither is archived, every priced category exists in the venue, the
/// show has a time zone (the event's origin, else the venue's city), and in a hall or coach it overlaps
/// no other live show (the exclusion constraint <c>show_no_overlap_in_venue</c>, decision 0004). The
/// caller owns the transaction and stocks the inventory of what was created.
/// </summary>
internal static class ShowScheduling
{
    /// <summary>Why a show was not written, or null when it was.</summary>
    internal enum Refusal { EventNotFound, VenueNotFound, EventArchived, VenueArchived, UnknownCategory, NoTimeZone }

    /// <summary>The outcome of <see cref="InsertAsync"/>.</summary>
    /// <param name="ShowId">The new show, when written.</param>
    /// <param name="Refused">Why not, when not.</param>
    /// <param name="UnknownCategory">The first priced category the venue lacks (with <see cref="Refusal.UnknownCategory"/>).</param>
    internal sealed record Outcome(long? ShowId, Refusal? Refused, string? UnknownCategory);

    /// <summary>
    /// The event and venue as the caller may schedule them: their time zone and the event's duration,
    /// or why no show can be scheduled there. Reads without locking; <see cref="InsertAsync"/> checks
    /// again in the statement that writes.
    /// </summary>
    /// <param name="Refused">Why nothing can be scheduled (not found, archived, no time zone), or null.</param>
    /// <param name="TimeZone">IANA zone of the shows' local times.</param>
    /// <param name="DurationMinutes">How long each show lasts, in minutes.</param>
    /// <param name="ExclusiveVenue">True for a hall or coach, whose shows may not overlap.</param>
    internal sealed record Target(Refusal? Refused, string? TimeZone, int DurationMinutes, bool ExclusiveVenue);

    /// <summary>Reads the <see cref="Target"/> of <paramref name="eventId"/> at <paramref name="venueId"/> for <paramref name="user"/>.</summary>
    public static async Task<Target> TargetAsync(NpgsqlConnection connection, long eventId, long venueId, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(TargetSql, connection);
        command.With("event_id", eventId).With("venue_id", venueId).With("user_id", user.UserId()).With("is_admin", user.IsAdmin());
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        var refused = Refuse(reader.Get<bool>("event_found"), reader.Get<bool>("venue_found"), reader.Get<bool>("event_archived"),
            reader.Get<bool>("venue_archived"), null, reader.Get<string?>("zone"));
        return new Target(refused, reader.Get<string?>("zone"), reader.Get<int?>("duration_minutes") ?? 0, reader.Get<bool?>("exclusive") ?? false);
    }

    /// <summary>
    /// Writes <paramref name="show"/> and its prices in one statement when every rule holds, and audits
    /// it as <c>show.created</c>. Throws <see cref="PostgresException"/> for
    /// <c>show_no_overlap_in_venue</c> (an overlap) and <c>show_currency_fk</c> (a currency Holdfast
    /// does not sell in); the caller rolls back.
    /// </summary>
    public static async Task<Outcome> InsertAsync(NpgsqlConnection connection, NewShow show, ClaimsPrincipal user, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(InsertSql, connection);
        command.With("event_id", show.EventId);
        command.With("venue_id", show.VenueId);
        command.With("user_id", user.UserId());
        command.With("is_admin", user.IsAdmin());
        command.With("starts_at", show.StartsAt.ToUniversalTime());
        command.With("opens", show.SalesOpensAt.ToUniversalTime());
        command.With("closes", show.SalesClosesAt.ToUniversalTime());
        command.With("currency", show.Currency);
        command.With("categories", show.Prices.Keys.ToArray());
        command.With("amounts", show.Prices.Values.ToArray());
        Outcome outcome;
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            await reader.ReadAsync(cancellationToken);
            var unknown = reader.Get<string?>("unknown_category");
            var refused = Refuse(reader.Get<bool>("event_found"), reader.Get<bool>("venue_found"), reader.Get<bool>("event_archived"),
                reader.Get<bool>("venue_archived"), unknown, reader.Get<string?>("zone"));
            outcome = new Outcome(refused is null ? reader.Get<long>("show_id") : null, refused, unknown);
        }

        if (outcome.ShowId is { } showId)
        {
            await AuditLog.RecordAsync(connection, user.UserId(), "show.created", "show", showId, null,
                new { show.EventId, show.VenueId, StartsAt = show.StartsAt.ToUniversalTime(), show.Currency, show.Prices, show.SalesOpensAt, show.SalesClosesAt },
                now, cancellationToken);
        }

        return outcome;
    }

    /// <summary>The answer for a refusal: 404 for what the caller cannot see, 409 for what is archived, 400 naming the field otherwise.</summary>
    public static ProblemHttpResult Problem(Refusal refusal, string? unknownCategory) => refusal switch
    {
        Refusal.EventNotFound => Problems.NotFound("Event"),
        Refusal.VenueNotFound => Problems.NotFound("Venue"),
        Refusal.EventArchived => Problems.Conflict("Event archived.", "The event is archived and takes no new shows.",
            new Dictionary<string, object?> { ["field"] = "event_id" }),
        Refusal.VenueArchived => Problems.Conflict("Venue archived.", "The venue is archived and takes no new shows.",
            new Dictionary<string, object?> { ["field"] = "venue_id" }),
        Refusal.UnknownCategory => Problems.Field("prices", $"The venue has no seats of category {unknownCategory}."),
        _ => Problems.Field("venue_id", "A show needs a time zone: the event's origin, or the venue's city."),
    };

    private static Refusal? Refuse(bool eventFound, bool venueFound, bool eventArchived, bool venueArchived, string? unknownCategory, string? zone) =>
        !eventFound ? Refusal.EventNotFound
        : !venueFound ? Refusal.VenueNotFound
        : eventArchived ? Refusal.EventArchived
        : venueArchived ? Refusal.VenueArchived
        : unknownCategory is not null ? Refusal.UnknownCategory
        : zone is null ? Refusal.NoTimeZone
        : null;

    // The event and the venue as the caller may see them, with what a show needs from them; shared by
    // both statements so they read the same rules. FOR SHARE waits for (and then sees) an archiving
    // in flight, which the foreign keys' KEY SHARE would not: no show slips onto what was just archived.
    private const string EventAndVenue = """
        e as (
          select e.event_id, e.duration_minutes, e.status = 'archived' as archived, coalesce(oa.time_zone, oc.time_zone) as zone
          from event e
          left join airport oa on oa.airport_id = e.origin_airport_id
          left join city oc on oc.city_id = e.origin_city_id
          where e.event_id = @event_id and (e.owner_app_user_id = @user_id or @is_admin)
          for share of e
        ), v as (
          select v.venue_id, c.time_zone as zone, v.archived_at is not null as archived, v.kind in ('cinema_hall', 'coach') as exclusive
          from venue v left join city c on c.city_id = v.city_id
          where v.venue_id = @venue_id and (v.owner_app_user_id = @user_id or @is_admin)
          for share of v
        )
        """;

    private const string TargetSql = "with " + EventAndVenue + """

        select exists (select 1 from e) as event_found, exists (select 1 from v) as venue_found,
               coalesce((select archived from e), false) as event_archived, coalesce((select archived from v), false) as venue_archived,
               (select coalesce(e.zone, v.zone) from e, v) as zone, (select duration_minutes from e) as duration_minutes,
               (select exclusive from v) as exclusive
        """;

    // One statement: checks ownership, archive, categories and time zone, then writes the show and its
    // prices, or nothing; the caller's inventory call then stocks its seats and feed row (SeatInventory).
    private const string InsertSql = "with " + EventAndVenue + """
        , unknown_category as (
          select p.category from unnest(@categories) as p (category)
          where not exists (select 1 from seat s where s.venue_id = @venue_id and s.category = p.category)
          limit 1
        ), ok as (
          select e.event_id, v.venue_id, e.duration_minutes, coalesce(e.zone, v.zone) as zone
          from e, v
          where not e.archived and not v.archived
            and not exists (select 1 from unknown_category) and coalesce(e.zone, v.zone) is not null
        ), new_show as (
          insert into show (event_id, venue_id, starts_at, ends_at, time_zone, currency, status, sales_opens_at, sales_closes_at)
          select event_id, venue_id, @starts_at, @starts_at + make_interval(mins => duration_minutes), zone, @currency, 'on_sale', @opens, @closes
          from ok
          returning show_id
        ), prices as (
          insert into show_price (show_id, category, amount_minor)
          select new_show.show_id, p.category, p.amount from new_show, unnest(@categories, @amounts) as p (category, amount)
        )
        select exists (select 1 from e) as event_found, exists (select 1 from v) as venue_found,
               coalesce((select archived from e), false) as event_archived, coalesce((select archived from v), false) as venue_archived,
               (select category from unknown_category) as unknown_category,
               (select coalesce(e.zone, v.zone) from e, v) as zone, (select show_id from new_show) as show_id
        """;
}

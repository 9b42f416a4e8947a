using System.Globalization;
using Carter;
using Holdfast.Features.Inventory;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace Holdfast.Features.Shows;

/// <summary>
/// <c>POST /shows/timetable</c>: an organizer schedules many shows of one event at one venue from a
/// timetable (local times on chosen days of a date range, e.g. a flight daily at 08:00 for 90 days) in
/// one request. Local times become UTC instants in the show's time zone (the event's origin, else
/// the venue's city: the zone <c>POST /shows</c> stores), as PostgreSQL's tz database resolves them: a
/// time inside a spring-forward gap moves forward by the gap, and <c>local_starts_at</c> says where it
/// landed. Occurrences already started, or overlapping an existing live show of the hall or coach,
/// are skipped and reported with the reason. Every other occurrence is written with the rules of
/// <see cref="ShowScheduling"/>, all in one transaction: when one fails (it overlaps another
/// occurrence of the timetable, or a show committed meanwhile), nothing is written.
/// </summary>
public sealed class ScheduleShows : ICarterModule
{
    /// <summary>Most occurrences (dates × times) one timetable may name.</summary>
    public const int MaxOccurrences = 366;

    /// <summary>The timetable.</summary>
    /// <param name="EventId">An event the caller owns (not archived).</param>
    /// <param name="VenueId">A venue the caller owns (not archived).</param>
    /// <param name="FirstDate">First local date, <c>yyyy-MM-dd</c>.</param>
    /// <param name="LastDate">Last local date, inclusive, <c>yyyy-MM-dd</c>; at most 366 days after <paramref name="FirstDate"/>.</param>
    /// <param name="LocalTimes">Start times on each day, <c>HH:mm</c> local to the show's time zone; 1–24 of them.</param>
    /// <param name="DaysOfWeek">ISO days to run on, 1 = Monday … 7 = Sunday; absent means every day.</param>
    /// <param name="Currency">ISO 4217 code.</param>
    /// <param name="Prices">Category → price per seat in minor units (≥ 0).</param>
    /// <param name="SalesOpensAt">When holds open for every show (default now), UTC or with an offset.</param>
    /// <param name="SalesCloseMinutesBefore">Holds close this many minutes before each start (0–10,080; default 0).</param>
    public sealed record Request(long? EventId, long? VenueId, string? FirstDate, string? LastDate, IReadOnlyList<string>? LocalTimes,
        IReadOnlyList<int>? DaysOfWeek, string? Currency, Dictionary<string, long>? Prices, DateTimeOffset? SalesOpensAt, int? SalesCloseMinutesBefore);

    /// <summary>A show the timetable created.</summary>
    /// <param name="ShowId">The new show.</param>
    /// <param name="StartsAt">UTC.</param>
    /// <param name="LocalStartsAt">Local to <see cref="Response.TimeZone"/>, with its offset.</param>
    public sealed record CreatedShow(long ShowId, DateTimeOffset StartsAt, DateTimeOffset LocalStartsAt);

    /// <summary>An occurrence the timetable left out.</summary>
    /// <param name="LocalDate">Its local date.</param>
    /// <param name="LocalTime">Its local time, <c>HH:mm</c>.</param>
    /// <param name="StartsAt">The UTC instant it would have started.</param>
    /// <param name="Reason"><c>overlaps_show</c> (an existing live show of the venue overlaps it), <c>in_the_past</c>
    /// (it would start before now), or <c>sales_window_empty</c> (sales would close before they open).</param>
    /// <param name="OverlappingShowId">With <c>overlaps_show</c>: the show in the way.</param>
    public sealed record SkippedOccurrence(string LocalDate, string LocalTime, DateTimeOffset StartsAt, string Reason, long? OverlappingShowId);

    /// <summary>What was scheduled.</summary>
    /// <param name="TimeZone">IANA zone the local times were read in.</param>
    /// <param name="SeatsPerShow">Seats in each new show's inventory.</param>
    /// <param name="Created">The new shows, by start.</param>
    /// <param name="Skipped">The occurrences left out, by start, each with its reason.</param>
    public sealed record Response(string TimeZone, int SeatsPerShow, IReadOnlyList<CreatedShow> Created, IReadOnlyList<SkippedOccurrence> Skipped);

    private static readonly object Example = new
    {
        event_id = 42,
        venue_id = 7,
        first_date = "2027-01-01",
        last_date = "2027-03-31",
        local_times = (string[])["08:00"],
        days_of_week = (int[])[1, 2, 3, 4, 5],
        currency = "GBP",
        prices = new Dictionary<string, long> { ["economy"] = 4900 },
    };

    private static readonly string[] TimeFormats = ["HH:mm", "HH:mm:ss"];

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app) =>
        app.MapPost("/shows/timetable", HandleAsync)
            .DeclaresProblem(StatusCodes.Status404NotFound, "The event or the venue named in the body does not exist, or is not the caller's.")
            .DeclaresProblem(StatusCodes.Status409Conflict, "The event or the venue is archived, or an occurrence overlaps another one of the timetable " +
                                                            "(or a show created meanwhile); `occurrence` names it and nothing was scheduled.")
            .DeclaresProblem(StatusCodes.Status422UnprocessableEntity, $"The timetable names more than {MaxOccurrences} occurrences (`errors` says how many).")
            .RequireAuthorization(Roles.Organizer)
            .WithTags("Catalogue")
            .WithSummary("Schedule shows from a timetable")
            .WithDescription("Organizers (own events and venues) and admins. 200 with the shows created and the occurrences skipped (already started, " +
                             "or overlapping an existing show in the hall or coach), all written in one transaction or none. 400 names each invalid field; " +
                             $"422 over {MaxOccurrences} occurrences; 409 when an occurrence cannot be written, and then nothing is.")
            .WithRequestExample(Example);

    internal static async Task<Results<Ok<Response>, ValidationProblem, ProblemHttpResult>> HandleAsync(
        Request request, HttpContext http, NpgsqlDataSource db, TimeProvider time, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var first = Date(request.FirstDate);
        var last = Date(request.LastDate);
        var times = (request.LocalTimes ?? []).Select(t => TimeOnly.TryParseExact(t, TimeFormats, CultureInfo.InvariantCulture, DateTimeStyles.None, out var v) ? v : (TimeOnly?)null).ToList();
        var validation = new Validation()
            .Require(request.EventId is not null, "event_id", "Required.")
            .Require(request.VenueId is not null, "venue_id", "Required.")
            .Require(first is not null, "first_date", "Required: a date as yyyy-MM-dd.")
            .Require(last is not null, "last_date", "Required: a date as yyyy-MM-dd.")
            .Require(first is null || last is null || (last >= first && last.Value.DayNumber - first.Value.DayNumber < MaxOccurrences), "last_date",
                $"Must be on or after first_date and less than {MaxOccurrences} days after it.")
            .Require(times.Count is >= 1 and <= 24 && times.All(t => t is not null), "local_times", "Required: 1 to 24 times as HH:mm (24-hour).")
            .Require(times.Distinct().Count() == times.Count, "local_times", "Each time once.")
            .Require(request.DaysOfWeek is null || (request.DaysOfWeek.Count > 0 && request.DaysOfWeek.All(d => d is >= 1 and <= 7)), "days_of_week",
                "ISO days 1 (Monday) to 7 (Sunday); leave out for every day.")
            .Require(request.Currency is not null && CreateShow.Currency().IsMatch(request.Currency), "currency", "Required: an ISO 4217 code such as GBP.")
            .Require(request.Prices is { Count: > 0 }, "prices", "Give at least one category's price.")
            .Require(request.SalesCloseMinutesBefore is null or (>= 0 and <= 10_080), "sales_close_minutes_before", "0 to 10,080 minutes.");
        CreateShow.RequireValidPrices(validation, request.Prices);
        if (!validation.IsValid)
        {
            return validation.Problem();
        }

        var days = request.DaysOfWeek?.ToHashSet();
        var occurrences = new List<(DateOnly Date, TimeOnly Time)>();
        for (var date = first!.Value; date <= last!.Value; date = date.AddDays(1))
        {
            if (days is null || days.Contains(date.DayOfWeek == DayOfWeek.Sunday ? 7 : (int)date.DayOfWeek))
            {
                occurrences.AddRange(times.Select(t => (date, t!.Value)));
            }
        }

        if (occurrences.Count > MaxOccurrences)
        {
            return TypedResults.Problem(new HttpValidationProblemDetails(new Dictionary<string, string[]>
            {
                ["last_date"] = [$"The timetable names {occurrences.Count} occurrences; at most {MaxOccurrences} per request. Split it into several."],
            })
            {
                Title = "Too many occurrences.",
                Status = StatusCodes.Status422UnprocessableEntity,
            });
        }

        var opens = (request.SalesOpensAt ?? now).ToUniversalTime();
        var closeBefore = TimeSpan.FromMinutes(request.SalesCloseMinutesBefore ?? 0);
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var target = await ShowScheduling.TargetAsync(connection, request.EventId!.Value, request.VenueId!.Value, http.User, cancellationToken);
        if (target.Refused is { } refused)
        {
            return ShowScheduling.Problem(refused, null);
        }

        var planned = new List<(DateTimeOffset StartsAt, DateTimeOffset Local)>();
        var skipped = new List<SkippedOccurrence>();
        await using (var plan = new NpgsqlCommand(PlanSql, connection))
        {
            plan.With("dates", occurrences.Select(o => o.Date).ToArray()).With("times", occurrences.Select(o => o.Time).ToArray())
                .With("zone", target.TimeZone!).With("venue_id", request.VenueId.Value).With("exclusive", target.ExclusiveVenue)
                .With("duration", target.DurationMinutes);
            await using var reader = await plan.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                var startsAt = reader.Get<DateTimeOffset>("starts_at");
                var reason = reader.Get<long?>("overlapping_show_id") is not null ? "overlaps_show"
                    : startsAt <= now ? "in_the_past"
                    : startsAt - closeBefore <= opens ? "sales_window_empty"
                    : null;
                if (reason is null)
                {
                    planned.Add((startsAt, LocalTime.WithOffset(reader.Get<DateTime>("starts_at"), reader.Get<DateTime>("local_starts_at"))));
                }
                else
                {
                    skipped.Add(new SkippedOccurrence(reader.Get<DateOnly>("local_date").ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
                        reader.Get<TimeOnly>("local_time").ToString("HH:mm", CultureInfo.InvariantCulture), startsAt, reason, reader.Get<long?>("overlapping_show_id")));
                }
            }
        }

        var created = new List<CreatedShow>();
        var current = default(DateTimeOffset);
        try
        {
            foreach (var (startsAt, local) in planned)
            {
                current = local;
                var outcome = await ShowScheduling.InsertAsync(connection,
                    new NewShow(request.EventId.Value, request.VenueId.Value, startsAt, request.Currency!, request.Prices!, opens, startsAt - closeBefore),
                    http.User, now, cancellationToken);
                if (outcome.ShowId is not { } showId)
                {
                    return ShowScheduling.Problem(outcome.Refused!.Value, outcome.UnknownCategory);
                }

                created.Add(new CreatedShow(showId, startsAt, local));
            }
        }
        catch (PostgresException ex) when (ex.ProblemFor(
            new OnConstraint("show_currency_fk", () => Problems.Field("currency", $"{request.Currency} is not an ISO 4217 currency Holdfast sells in.")),
            new OnConstraint("show_no_overlap_in_venue", () => Problems.Conflict("Occurrence overlaps.",
                $"The show at {current:yyyy-MM-dd'T'HH:mmzzz} overlaps another show of this timetable or one created meanwhile; nothing was scheduled.",
                new Dictionary<string, object?> { ["occurrence"] = current }))) is { } problem)
        {
            return problem;
        }

        var seats = created.Count == 0 ? 0 : await SeatInventory.StockShowsAsync(connection, [.. created.Select(c => c.ShowId)], cancellationToken) / created.Count;
        if (created.Count > 0)
        {
            await Holdfast.Infrastructure.Caching.ReadCache.NotifyCatalogueChangedAsync(connection, cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        return TypedResults.Ok(new Response(target.TimeZone!, seats, created, skipped));
    }

    private static DateOnly? Date(string? text) =>
        DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var date) ? date : null;

    // Each occurrence's instant in the zone (date + time AT TIME ZONE), its local reading back (which
    // differs inside a DST gap), and the first live show of an exclusive venue overlapping it. Shows
    // of this timetable are not yet written: an overlap among them is left to the exclusion constraint.
    private const string PlanSql = """
        select o.d as local_date, o.t as local_time, x.starts_at, x.starts_at at time zone @zone as local_starts_at,
               (select s.show_id from show s
                where @exclusive and s.venue_id = @venue_id and s.exclusive_venue and s.status <> 'cancelled'
                  and tstzrange(s.starts_at, s.ends_at) && tstzrange(x.starts_at, x.starts_at + make_interval(mins => @duration))
                order by s.starts_at limit 1) as overlapping_show_id
        from unnest(@dates::date[], @times::time[]) as o (d, t)
        cross join lateral (select (o.d + o.t) at time zone @zone as starts_at) x
        order by x.starts_at
        """;
}

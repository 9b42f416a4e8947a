using System.Text.RegularExpressions;
using Carter;
using Holdfast.Features.Inventory;
using Holdfast.Infrastructure;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Holdfast.Infrastructure.SeatFeed;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;

namespace Holdfast.Features.Holds;

/// <summary>
/// <c>POST /shows/{id}/holds</c>: holds named seats, or the best N available seats of a category,
/// all or nothing, with prices locked in. See GUIDE §4 for why this cannot sell a seat twice.
/// Best-available keeps a party together (decision 0025): adjacent seats of one row when such a run
/// is free, else the fewest pieces; it avoids leaving a single seat stranded; it offers accessible
/// seats only to a party that asks for them, and never a blocked seat.
/// </summary>
public sealed partial class HoldSeats : ICarterModule
{
    /// <summary>
    /// Either <see cref="Seats"/> (labels from the seat map, e.g. <c>["12A","12B"]</c>) or
    /// <see cref="Category"/> with <see cref="Quantity"/> (the best N available seats of it, together
    /// when possible), optionally <see cref="Accessible"/>.
    /// </summary>
    /// <param name="Seats">Labels from the seat map; held exactly, all or nothing.</param>
    /// <param name="Category">With <c>quantity</c>: the seat category to choose from, e.g. <c>economy</c>.</param>
    /// <param name="Quantity">With <c>category</c>: how many seats, 1 to the per-customer limit.</param>
    /// <param name="Accessible">With <c>category</c>: true to be offered only accessible seats (at least one wheelchair space, the
    /// rest wheelchair spaces or companion seats). Accessible seats are never offered to a party that does not ask for them.</param>
    public sealed record Request(string[]? Seats, string? Category, int? Quantity, bool? Accessible = null);

    /// <summary>A held seat and its locked price.</summary>
    /// <param name="SeatId">The seat id.</param>
    /// <param name="Label">What the customer reads, e.g. <c>12A</c>.</param>
    /// <param name="Category">Seat category, e.g. <c>economy</c>.</param>
    /// <param name="PriceMinor">Price locked at hold time, in minor units of the hold's currency.</param>
    public sealed record HeldSeat(long SeatId, string Label, string Category, long PriceMinor);

    /// <summary>The hold.</summary>
    /// <param name="HoldId">The hold id; release with <c>DELETE /holds/{id}</c>, book with <c>POST /holds/{id}/booking</c>.</param>
    /// <param name="ShowId">The show.</param>
    /// <param name="Status">Always <c>active</c> here.</param>
    /// <param name="ExpiresAt">UTC instant the seats are released unless booked.</param>
    /// <param name="Currency">ISO 4217 code.</param>
    /// <param name="TotalMinor">Sum of the seats' prices, in minor units.</param>
    /// <param name="Seats">The seats, in seat-id order.</param>
    /// <param name="Together">Best-available only: true when the seats are adjacent in one row, false when the party had to be split; null for named seats.</param>
    public sealed record Response(long HoldId, long ShowId, string Status, DateTimeOffset ExpiresAt, string Currency, long TotalMinor, IReadOnlyList<HeldSeat> Seats, bool? Together = null);

    private sealed record ShowState(string Status, DateTime StartsAt, string Currency, long VenueId, long SeatsTaken, DateTime SalesOpensAt, DateTime SalesClosesAt);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app) =>
        app.MapPost("/shows/{showId:long}/holds", HandleAsync)
            .WithRequestExample(new { category = "economy", quantity = 2 })
            .DeclaresProblem(StatusCodes.Status409Conflict, "Nothing was held: seats are gone (`unavailable_seats`), too few of the category are free, the show is not on sale, or the per-customer seat limit would be exceeded.")
            .RequireAuthorization()
            .WithMetadata(new IdempotentAttribute())
            .RequireRateLimiting(RateLimiting.Holds)
            .WithTags("Holds")
            .WithSummary("Hold seats of a show")
            .WithDescription("All or nothing. 409 names the seats that are gone (unavailable_seats), or says the show is not on sale, " +
                             "or that the per-customer seat limit would be exceeded. 400 names unknown seats or an unknown category.");

    internal static async Task<Results<Created<Response>, ValidationProblem, ProblemHttpResult>> HandleAsync(
        long showId,
        Request request,
        HttpContext http,
        NpgsqlDataSource db,
        SeatFeedAnnouncer announcer,
        IOptions<HoldOptions> options,
        TimeProvider time,
        HoldfastMetrics metrics,
        CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var validation = Validate(request, settings);
        if (!validation.IsValid)
        {
            return validation.Problem();
        }

        var userId = http.User.UserId();
        var requested = request.Seats?.Length ?? request.Quantity!.Value;
        var now = time.GetUtcNow();

        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        if (request.Seats is { } named && await TakenAlreadyAsync(connection, showId, named, now, cancellationToken) is { Length: > 0 } taken)
        {
            // Answered from committed state in one round trip, with no lock taken: in a rush most
            // requests for a seat arrive after someone else has it, and they should cost little.
            metrics.HoldConflict();
            return SeatsGone(taken);
        }

        await using var transaction = await SeatTransaction.BeginAsync(connection, announcer, cancellationToken);

        var (show, firstPick) = await LockLimitAndReadShowAsync(connection, showId, userId, request, cancellationToken);
        if (show is null)
        {
            return Problems.NotFound("Show");
        }

        if (show.Status != "on_sale" || now.UtcDateTime < show.SalesOpensAt || now.UtcDateTime >= show.SalesClosesAt)
        {
            var why = show.Status != "on_sale" ? show.Status
                : now.UtcDateTime < show.SalesOpensAt ? $"not on sale until {show.SalesOpensAt:O}"
                : "closed for sales";
            return Problems.Conflict("Show not on sale.", $"Show {showId} is {why}; no new holds are taken.");
        }

        if (show.SeatsTaken + requested > settings.MaxSeatsPerCustomerPerShow)
        {
            return Problems.Conflict("Seat limit reached.",
                $"At most {settings.MaxSeatsPerCustomerPerShow} seats per customer per show; you already hold or booked {show.SeatsTaken}.",
                new Dictionary<string, object?> { ["limit"] = settings.MaxSeatsPerCustomerPerShow, ["seats_taken"] = show.SeatsTaken });
        }

        bool? together = null;
        List<HeldSeat> seats;
        if (request.Seats is { } labels)
        {
            seats = await LockNamedSeatsAsync(connection, showId, show.VenueId, labels, cancellationToken);
        }
        else
        {
            (seats, var inOneRun) = await LockBestSeatsAsync(connection, showId, request.Category!, requested, request.Accessible ?? false, firstPick, cancellationToken);
            together = inOneRun;
        }

        if (seats.Count < requested)
        {
            await transaction.RollbackAsync(cancellationToken);
            var problem = request.Seats is { } wanted
                ? await NamedSeatsProblemAsync(connection, showId, show.VenueId, wanted, seats, cancellationToken)
                : await BestSeatsProblemAsync(connection, showId, request.Category!, requested, request.Accessible ?? false, cancellationToken);
            metrics.HoldConflictIf(problem.StatusCode);
            return problem;
        }

        var expiresAt = now.AddSeconds(settings.DurationSeconds);
        var holdId = await SeatInventory.TakeAsync(transaction, showId, userId, show.Currency, [.. seats.Select(s => s.SeatId)],
            [.. seats.Select(s => s.Category)], [.. seats.Select(s => s.PriceMinor)], now, expiresAt, cancellationToken);
        await transaction.CommitAsync(cancellationToken); // announces the show's change
        metrics.HoldTaken();

        var ordered = seats.OrderBy(s => s.SeatId).ToList();
        return TypedResults.Created($"/holds/{holdId}",
            new Response(holdId, showId, "active", expiresAt, show.Currency, ordered.Sum(s => s.PriceMinor), ordered, together));
    }

    private static Validation Validate(Request request, HoldOptions settings)
    {
        var validation = new Validation();
        var byLabel = request.Seats is not null;
        var byCategory = request.Category is not null || request.Quantity is not null || request.Accessible is not null;
        if (byLabel == byCategory)
        {
            return validation.Add("seats", "Give either seats (labels such as \"12A\") or category with quantity, not both and not neither.");
        }

        if (request.Seats is { } seats)
        {
            validation.Require(seats.Length is >= 1 && seats.Length <= settings.MaxSeatsPerCustomerPerShow, "seats",
                $"Hold 1 to {settings.MaxSeatsPerCustomerPerShow} seats.");
            for (var i = 0; i < seats.Length; i++)
            {
                validation.Require(seats[i] is not null && SeatLabel().IsMatch(seats[i]), $"seats[{i}]",
                    "A seat label is 1 to 16 letters and digits, e.g. \"12A\".");
            }

            validation.Require(seats.Distinct(StringComparer.Ordinal).Count() == seats.Length, "seats", "A seat is named twice.");
        }
        else
        {
            validation.Require(request.Category is not null && CategoryName().IsMatch(request.Category), "category",
                "Required with quantity: a seat category such as \"economy\".");
            validation.Require(request.Quantity is { } q && q >= 1 && q <= settings.MaxSeatsPerCustomerPerShow, "quantity",
                $"Required with category: 1 to {settings.MaxSeatsPerCustomerPerShow}.");
        }

        return validation;
    }

    private sealed record Pick(List<HeldSeat> Seats, bool Together);

    private static async Task<(ShowState? Show, Pick? FirstPick)> LockLimitAndReadShowAsync(
        NpgsqlConnection connection, long showId, long userId, Request request, CancellationToken cancellationToken)
    {
        // One round trip. The show state is read after the lock is granted, so it counts every seat
        // a concurrent request of this customer committed before us. A best-available party's first
        // pick goes in the same round trip, after the show is read (one round trip fewer per hold,
        // decision 0032): when the show turns out not on sale or the customer's limit reached, the
        // caller answers without holding and the transaction's rollback gives the picked seats back.
        await using var batch = new NpgsqlBatch(connection)
        {
            BatchCommands = { new NpgsqlBatchCommand(Sql.GenericPlansSql), new NpgsqlBatchCommand(LimitLockSql), new NpgsqlBatchCommand(ShowStateSql) },
        };
        for (var i = 1; i < batch.BatchCommands.Count; i++)
        {
            batch.BatchCommands[i].With("show_id", showId);
            batch.BatchCommands[i].With("user_id", userId);
        }

        if (request.Category is { } category)
        {
            batch.BatchCommands.Add(PickCommand(showId, category, request.Quantity!.Value, request.Accessible ?? false));
        }

        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        // The SET returns no result set, so the reader starts on the lock's; the next is the show's.
        await reader.NextResultAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return (null, null);
        }

        var show = new ShowState(reader.Get<string>("status"), reader.Get<DateTime>("starts_at"), reader.Get<string>("currency"), reader.Get<long>("venue_id"),
            reader.Get<long>("seats_taken"), reader.Get<DateTime>("sales_opens_at"), reader.Get<DateTime>("sales_closes_at"));
        return (show, request.Category is null || !await reader.NextResultAsync(cancellationToken) ? null : await ReadPickAsync(reader, cancellationToken));
    }

    private static NpgsqlBatchCommand PickCommand(long showId, string category, int quantity, bool accessible) =>
        new NpgsqlBatchCommand(PickSeatsSql).With("show_id", showId).With("category", category).With("quantity", quantity).With("accessible", accessible);

    private static async Task<Pick> ReadPickAsync(NpgsqlDataReader reader, CancellationToken cancellationToken)
    {
        var seats = new List<HeldSeat>();
        var together = false;
        while (await reader.ReadAsync(cancellationToken))
        {
            together = reader.Get<bool>("together");
            seats.Add(new HeldSeat(reader.Get<long>("seat_id"), reader.Get<string>("label"), reader.Get<string>("category"), reader.Get<long>("amount_minor")));
        }

        return new Pick(seats, together);
    }

    private static async Task<List<HeldSeat>> LockNamedSeatsAsync(NpgsqlConnection connection, long showId, long venueId, string[] labels, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(LockNamedSeatsSql, connection);
        command.With("show_id", showId);
        command.With("venue_id", venueId);
        command.With("labels", labels);
        return await ReadSeatsAsync(command, cancellationToken);
    }

    /// <summary>How many times a party's choice is made again, on a newer snapshot, when every candidate was being taken.</summary>
    internal const int PickAttempts = 3;

    // best_available_seats tries the party's candidates in order and locks the first it can lock
    // whole, SKIP LOCKED, so a rush serves rather than queues. When every candidate it saw was being
    // taken by others it returns nothing; it is asked again on a newer snapshot, and after
    // PickAttempts the party is served from whatever can be locked, in rank order, rather than
    // refused while seats remain (decision 0025).
    private static async Task<(List<HeldSeat> Seats, bool Together)> LockBestSeatsAsync(
        NpgsqlConnection connection, long showId, string category, int quantity, bool accessible, Pick? firstPick, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < PickAttempts; attempt++)
        {
            var pick = attempt == 0 && firstPick is not null ? firstPick : await PickAsync(connection, showId, category, quantity, accessible, cancellationToken);
            if (pick.Seats.Count > 0 || !await EnoughFreeAsync(connection, showId, category, quantity, accessible, cancellationToken))
            {
                return (pick.Seats, pick.Together);
            }
        }

        await using var fallback = new NpgsqlCommand(LockBestSeatsSql, connection)
            .With("show_id", showId).With("category", category).With("quantity", quantity).With("accessible", accessible);
        return (await ReadSeatsAsync(fallback, cancellationToken), false);
    }

    private static async Task<Pick> PickAsync(NpgsqlConnection connection, long showId, string category, int quantity, bool accessible, CancellationToken cancellationToken)
    {
        await using var batch = new NpgsqlBatch(connection) { BatchCommands = { PickCommand(showId, category, quantity, accessible) } };
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        return await ReadPickAsync(reader, cancellationToken);
    }

    // Whether the party could be served at all, as committed: if not, asking again will not help.
    private static async Task<bool> EnoughFreeAsync(NpgsqlConnection connection, long showId, string category, int quantity, bool accessible, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(AnyFreeSql, connection)
            .With("show_id", showId).With("category", category).With("quantity", quantity).With("accessible", accessible);
        return (bool)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    private static async Task<List<HeldSeat>> ReadSeatsAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        var seats = new List<HeldSeat>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            seats.Add(new HeldSeat(reader.Get<long>("seat_id"), reader.Get<string>("label"), reader.Get<string>("category"), reader.Get<long>("amount_minor")));
        }

        return seats;
    }

    private static async Task<ProblemHttpResult> NamedSeatsProblemAsync(
        NpgsqlConnection connection, long showId, long venueId, string[] wanted, List<HeldSeat> locked, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(KnownLabelsSql, connection);
        command.With("show_id", showId);
        command.With("venue_id", venueId);
        command.With("labels", wanted);
        var known = new HashSet<string>(StringComparer.Ordinal);
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                known.Add(reader.Get<string>("label"));
            }
        }

        var unknown = wanted.Where(l => !known.Contains(l)).ToArray();
        if (unknown.Length > 0)
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "The request is not valid.",
                detail: $"This show's seat map has no seat {string.Join(", ", unknown)}.",
                extensions: new Dictionary<string, object?> { ["errors"] = new Dictionary<string, string[]> { ["seats"] = [$"Unknown seats: {string.Join(", ", unknown)}."] } });
        }

        return SeatsGone(wanted.Except(locked.Select(s => s.Label), StringComparer.Ordinal).ToArray());
    }

    private static ProblemHttpResult SeatsGone(string[] labels)
    {
        var gone = labels.Order(StringComparer.Ordinal).ToArray();
        return Problems.Conflict("Seats not available.", $"These seats are held, sold or blocked: {string.Join(", ", gone)}. Nothing was held.",
            new Dictionary<string, object?> { ["unavailable_seats"] = gone });
    }

    // Labels among the requested seats that are already held, sold or blocked, on a show that is
    // otherwise open for holds (so a closed show still gets its own answer from the full path).
    private static async Task<string[]> TakenAlreadyAsync(NpgsqlConnection connection, long showId, string[] labels, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(TakenAlreadySql, connection);
        command.With("show_id", showId);
        command.With("labels", labels);
        command.With("now", now);
        var taken = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            taken.Add(reader.Get<string>("label"));
        }

        return [.. taken];
    }

    private static async Task<ProblemHttpResult> BestSeatsProblemAsync(
        NpgsqlConnection connection, long showId, string category, int requested, bool accessible, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(CategoriesSql, connection);
        command.With("show_id", showId);
        var categories = new List<string>();
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                categories.Add(reader.Get<string>("category"));
            }
        }

        if (!categories.Contains(category))
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "The request is not valid.",
                detail: $"This show sells no {category} seats; it sells {string.Join(", ", categories)}.",
                extensions: new Dictionary<string, object?> { ["errors"] = new Dictionary<string, string[]> { ["category"] = [$"Not sold on this show; choose one of {string.Join(", ", categories)}."] } });
        }

        var what = accessible ? $"accessible {category} seats (with at least one wheelchair space)" : $"{category} seats";
        return Problems.Conflict("Seats not available.", $"Fewer than {requested} {what} are available. Nothing was held.",
            new Dictionary<string, object?> { ["unavailable_seats"] = Array.Empty<string>() });
    }

    [GeneratedRegex("^[A-Za-z0-9]{1,16}$")]
    private static partial Regex SeatLabel();

    [GeneratedRegex("^[a-z][a-z_]{0,31}$")]
    private static partial Regex CategoryName();

    private const string LimitLockSql = """
        select pg_advisory_xact_lock(hashtextextended('hold-limit:' || @show_id || ':' || @user_id, 0))
        """;

    // Seats the customer holds now plus seats they have bought on this show. KEY SHARE on the show
    // row (the lock the hold's foreign key takes anyway) makes a concurrent cancellation, which
    // locks the row FOR UPDATE, either wait for this hold and release it, or be seen by it.
    private const string ShowStateSql = """
        select s.status, s.starts_at, s.currency, s.venue_id,
               (select coalesce(sum(h.seat_count), 0)
                from hold h
                where h.show_id = s.show_id and h.app_user_id = @user_id and h.status = 'active')
             + (select count(*)
                from booking b
                join booking_seat bs on bs.booking_id = b.booking_id and bs.active
                where b.show_id = s.show_id and b.app_user_id = @user_id) as seats_taken,
               s.sales_opens_at, s.sales_closes_at
        from show s
        where s.show_id = @show_id
        for key share of s
        """;

    // SKIP LOCKED: a seat another request is taking right now counts as gone; we never wait for it.
    // A seat whose category has no price on this show is not for sale.
    private const string LockNamedSeatsSql = """
        select ss.seat_id, se.label, ss.category, p.amount_minor
        from seat se
        join show_seat ss on ss.show_id = @show_id and ss.seat_id = se.seat_id
        join show_price p on p.show_id = ss.show_id and p.category = ss.category
        where se.venue_id = @venue_id and se.label = any(@labels) and ss.state = 'available'
        for update of ss skip locked
        """;

    // The last resort under a rush (see LockBestSeatsAsync): any free seats the party may have, best
    // rank first, skipping those other requests are taking. Blocked seats are not 'available'.
    private const string LockBestSeatsSql = """
        select ss.seat_id, se.label, ss.category, p.amount_minor
        from show_seat ss
        join seat se on se.seat_id = ss.seat_id
        join show_price p on p.show_id = ss.show_id and p.category = ss.category
        where ss.show_id = @show_id and ss.category = @category and ss.state = 'available'
          and (ss.access is not null) = @accessible
        order by ss.access = 'wheelchair' desc nulls last, ss.rank
        limit @quantity
        for update of ss skip locked
        """;

    // The party's seats, chosen and locked by best_available_seats (migration 0031, where the
    // algorithm and its tie-breaks are explained; decision 0025), with their labels and prices.
    private const string PickSeatsSql = """
        select b.seat_id, b.together, se.label, ss.category, p.amount_minor
        from best_available_seats(@show_id, @category, @quantity, @accessible) b
        join show_seat ss on ss.show_id = @show_id and ss.seat_id = b.seat_id
        join seat se on se.seat_id = b.seat_id
        join show_price p on p.show_id = ss.show_id and p.category = ss.category
        """;

    // Enough free seats for the party, with a wheelchair space if it asked for accessible seats.
    private const string AnyFreeSql = """
        select count(*) >= @quantity and (not @accessible or coalesce(bool_or(ss.access = 'wheelchair'), false))
        from show_seat ss
        where ss.show_id = @show_id and ss.category = @category and ss.state = 'available'
          and (ss.access is not null) = @accessible
        """;

    private const string TakenAlreadySql = """
        select se.label
        from show s
        join seat se on se.venue_id = s.venue_id and se.label = any(@labels)
        join show_seat ss on ss.show_id = s.show_id and ss.seat_id = se.seat_id
        where s.show_id = @show_id and s.status = 'on_sale'
          and s.sales_opens_at <= @now and @now < s.sales_closes_at
          and ss.state <> 'available'
        """;

    private const string KnownLabelsSql = """
        select se.label
        from seat se
        join show_seat ss on ss.show_id = @show_id and ss.seat_id = se.seat_id
        where se.venue_id = @venue_id and se.label = any(@labels)
        """;

    private const string CategoriesSql = """
        select category from show_price where show_id = @show_id order by amount_minor desc, category
        """;
}

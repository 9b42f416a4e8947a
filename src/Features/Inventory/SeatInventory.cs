using Holdfast.Features.Jobs;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Jobs;
using Npgsql;

namespace Holdfast.Features.Inventory;

/// <summary>One seat of a venue's seat map, as <see cref="SeatInventory.WriteVenueSeatsAsync"/> writes it.</summary>
/// <param name="Section">E.g. <c>business</c>, <c>stalls</c>.</param>
/// <param name="Row">Row label as printed (<c>12</c>, <c>F</c>).</param>
/// <param name="Number">Seat number within the row, from 1 at the left.</param>
/// <param name="Label">What the customer reads (<c>12A</c>, <c>F7</c>).</param>
/// <param name="Category">Price category (<c>business</c>, <c>economy</c>, <c>standard</c>, <c>premium</c>).</param>
/// <param name="X">Drawing column (seat widths from the left; aisles are empty columns).</param>
/// <param name="Y">Drawing row (from the front).</param>
/// <param name="Rank">Best-available order, lower first.</param>
/// <param name="Access"><c>wheelchair</c> (a wheelchair space), <c>companion</c> (a seat beside one), or null.</param>
/// <param name="Blocked">New shows on the venue start with this seat blocked (a broken, house or crew seat).</param>
public sealed record SeatSpec(string Section, string Row, int Number, string Label, string Category, int X, int Y, int Rank, string? Access = null, bool Blocked = false);

/// <summary>What a block or unblock of seats did (<see cref="SeatInventory.BlockAsync"/>, <see cref="SeatInventory.UnblockAsync"/>).</summary>
/// <param name="Known">The requested labels the seat map has; the others are unknown.</param>
/// <param name="Refused">Seats held or booked, so nothing was blocked (blocking only); empty otherwise.</param>
/// <param name="Changed">Seats whose state this call changed.</param>
/// <param name="Seq">The seat event appended for the change; null when nothing changed.</param>
public sealed record SeatBlockResult(string[] Known, string[] Refused, string[] Changed, long? Seq);

/// <summary>Why a release did what it did (<see cref="SeatInventory.ReleaseAsync"/>).</summary>
/// <param name="HoldStatus">The hold's status before the release; null when no such hold is the caller's.</param>
/// <param name="PayingBookingId">A booking awaiting payment for the hold, which keeps its seats.</param>
/// <param name="ReleasedFromShowId">The show whose seats went back on sale; null when nothing was released.</param>
public sealed record ReleaseResult(string? HoldStatus, long? PayingBookingId, long? ReleasedFromShowId);

/// <summary>
/// The one owner of seat state and inventory (docs/decisions/0019-inventory-and-typed-jobs.md): every
/// statement that writes <c>show_seat</c>, <c>hold</c> state, <c>hold_seat</c>, <c>booking_seat</c>
/// state, a venue's <c>seat</c> rows or a show's <c>seat_feed</c> row is here, each still a single
/// statement (or one batch) as decision 0008 measured. Operations that change a show's seats append
/// to its seat feed and record the show on the <see cref="SeatTransaction"/>, which announces it
/// after commit. The architecture test fails when SQL elsewhere in <c>src/</c> writes these tables.
/// </summary>
public static partial class SeatInventory
{
    /// <summary>
    /// A hold's status as its customer sees it, as SQL over the row alias <c>h</c> and <c>@now</c>:
    /// an active hold past its expiry is <c>expired</c> from that instant, whether or not the expiry
    /// job has run (its seats are free to others from then: see the take statement).
    /// </summary>
    public const string HoldStatusSql = "case when h.status = 'active' and h.expires_at <= @now then 'expired' else h.status end";

    /// <summary>
    /// Tells the seat feed that the ticket for <paramref name="seatId"/> was admitted, in the
    /// admitting transaction: a <c>checked_in</c> event (state stays <c>booked</c>) carrying the
    /// show's admitted and expected ticket counts as of this event's number. Announced on commit.
    /// </summary>
    public static async Task CheckedInAsync(SeatTransaction seats, long showId, long seatId, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("select seat_feed_append_check_in(@show_id, @seat_id, @now)", seats.Connection)
            .With("show_id", showId).With("seat_id", seatId).With("now", now);
        await command.ExecuteScalarAsync(cancellationToken);
        seats.Changed(showId);
    }

    /// <summary>
    /// Takes seats for a new hold: the hold, its priced seats, the seat flips, its expiry job
    /// (<see cref="HoldExpiry"/>, committed or rolled back with the hold) and the seat event, in one
    /// statement. The seats must have been locked by this transaction
    /// (<c>FOR UPDATE SKIP LOCKED</c>); returns the hold id.
    /// </summary>
    /// <exception cref="InvalidOperationException">Fewer seats were marked than locked (a bug); the transaction must roll back.</exception>
    public static async Task<long> TakeAsync(
        SeatTransaction seats, long showId, long userId, string currency, long[] seatIds, string[] categories, long[] prices,
        DateTimeOffset now, DateTimeOffset expiresAt, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(TakeSql, seats.Connection)
            .With("show_id", showId).With("user_id", userId).With("currency", currency).With("total_minor", prices.Sum())
            .With("seat_ids", seatIds).With("categories", categories).With("prices", prices)
            .With("now", now).With("expires_at", expiresAt);
        long holdId, marked;
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            await reader.ReadAsync(cancellationToken);
            (holdId, marked) = (reader.Get<long>("hold_id"), reader.Get<long>("marked"));
        }

        if (marked != seatIds.Length)
        {
            // The rows were locked by this transaction a moment ago; anything else is a bug, and the
            // transaction is rolled back on dispose rather than committing a partial hold.
            throw new InvalidOperationException($"Hold {holdId}: marked {marked} of {seatIds.Length} locked seats.");
        }

        seats.Changed(showId);
        return holdId;
    }

    /// <summary>
    /// The customer's release of a hold, in one round trip (decision 0008): locks the hold if it is
    /// the caller's (any, for an admin), looks for a checkout paying for it, and releases it unless
    /// one is. Run it on <see cref="SeatTransaction.Autocommit"/>: the batch is its own transaction.
    /// </summary>
    public static async Task<ReleaseResult> ReleaseAsync(
        SeatTransaction seats, long holdId, long userId, bool isAdmin, DateTimeOffset now, CancellationToken cancellationToken)
    {
        // A batch outside a transaction runs as one implicit transaction (the protocol's Sync ends
        // it), so the row lock of the first statement holds to the end, and each later statement's
        // snapshot is taken after it was granted: a checkout that committed while we waited is seen.
        await using var batch = new NpgsqlBatch(seats.Connection)
        {
            BatchCommands = { new NpgsqlBatchCommand(LockOwnHoldSql), new NpgsqlBatchCommand(PendingCheckoutSql), EndHoldCommand(holdId, isAdmin ? null : userId, "released", now) },
        };
        batch.BatchCommands[0].With("hold_id", holdId).With("user_id", userId).With("is_admin", isAdmin);
        batch.BatchCommands[1].With("hold_id", holdId);
        ReleaseResult result;
        await using (var reader = await batch.ExecuteReaderAsync(cancellationToken))
        {
            var status = await reader.ReadAsync(cancellationToken) ? reader.Get<string>("status") : null;
            await reader.NextResultAsync(cancellationToken);
            var bookingId = await reader.ReadAsync(cancellationToken) ? reader.Get<long?>("booking_id") : null;
            await reader.NextResultAsync(cancellationToken);
            var showId = await reader.ReadAsync(cancellationToken) ? reader.Get<long?>("show_id") : null;
            result = new ReleaseResult(status, bookingId, showId);
        }

        if (result.ReleasedFromShowId is { } releasedFrom)
        {
            seats.Changed(releasedFrom);
        }

        return result;
    }

    /// <summary>
    /// Ends an active hold that is due (<c>expires_at &lt;= now</c>) and frees its seats, in one
    /// statement: the hold row's status flip is the compare-and-set that makes an expiry racing a
    /// release or a booking end the hold exactly once. Returns the show and the hold's
    /// <c>expires_at</c> when this call ended it; null when it was not active or not yet due.
    /// </summary>
    public static async Task<(long ShowId, DateTimeOffset ExpiresAt)?> ExpireAsync(
        SeatTransaction seats, long holdId, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var batch = new NpgsqlBatch(seats.Connection) { BatchCommands = { EndHoldCommand(holdId, null, "expired", now) } };
        return await ReadEndedAsync(seats, batch, cancellationToken);
    }

    /// <summary>
    /// Ends the hold of a booking whose payment deadline passed: the hold was extended to the
    /// deadline at checkout, so it is made due now and expired, in one round trip.
    /// </summary>
    public static async Task<long?> ExpireAtDeadlineAsync(SeatTransaction seats, long holdId, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var batch = new NpgsqlBatch(seats.Connection)
        {
            BatchCommands = { new NpgsqlBatchCommand(DueNowSql), EndHoldCommand(holdId, null, "expired", now) },
        };
        batch.BatchCommands[0].With("hold_id", holdId).With("now", now);
        return (await ReadEndedAsync(seats, batch, cancellationToken))?.ShowId;
    }

    /// <summary>
    /// SQL (CTEs, no leading <c>with</c>) that hands a hold over to a checkout, for the checkout's own
    /// single statement: the hold now lasts until <c>@deadline</c>, and its <see cref="HoldExpiry"/>
    /// job becomes the checkout's <typeparamref name="TDeadline"/> job, due at <c>@deadline</c> (one
    /// row rewritten, not a cancelled one and a new one), since from then on the payment deadline
    /// alone ends it (it may wait on a payment still processing, and an expiry at the same instant
    /// would free the seats under it). An expiry job already running cannot be rewritten: it finds the
    /// hold extended and does nothing, and a new <typeparamref name="TDeadline"/> job is inserted.
    /// <paramref name="checkouts"/> is a query with a <c>hold_id</c> column and
    /// <typeparamref name="TDeadline"/>'s payload fields: the holds checked out by this statement
    /// (none: nothing changes). Parameters: <c>@deadline</c>, <c>@now</c>.
    /// </summary>
    public static string HandOverToCheckoutCtes<TDeadline>(string checkouts) where TDeadline : IJobArgs => $"""
        hold_extended as (
          update hold set expires_at = greatest(expires_at, @deadline) where hold_id in (select hold_id from ({checkouts}) h)
        ), expiry_became_deadline as (
          {JobSql.Replace<HoldExpiry, TDeadline>($"select c.*, @deadline as run_at from ({checkouts}) c")}
        ), deadline_inserted as (
          {JobSql.Insert<TDeadline>($"select c.*, @deadline as run_at, @now as created_at from ({checkouts}) c where c.hold_id not in (select e.hold_id from expiry_became_deadline e)")}
        )
        """;

    /// <summary>
    /// Books a paid hold's seats for its booking: those it still holds, or (hold gone) those free
    /// again. All or nothing: if any seat is taken by someone else nothing changes and false comes
    /// back. Confirms the booking, issues a ticket per seat, ends the hold, cancels its expiry and appends the seat event.
    /// <paramref name="alongside"/>, the caller's own statements of the same transaction (e.g. what a
    /// confirmation queues), are sent in the same round trip, after this one, and see its outcome
    /// (the booking is <c>confirmed</c> exactly when true comes back). They must return no rows.
    /// </summary>
    public static async Task<bool> BookAsync(
        SeatTransaction seats, long bookingId, long holdId, long showId, DateTimeOffset now, CancellationToken cancellationToken,
        params IReadOnlyList<NpgsqlBatchCommand> alongside)
    {
        // Planned once: a custom plan of this statement every call cost 0.85 ms of planning per
        // booking (pg_stat_statements, bookings bench) for the same key lookups as the generic plan.
        // The setting lasts to the end of the transaction: the caller's statements alongside and
        // after this batch run their generic plans too (all of them key lookups).
        await using var batch = new NpgsqlBatch(seats.Connection) { BatchCommands = { new NpgsqlBatchCommand(Sql.GenericPlansSql), new NpgsqlBatchCommand(BookSql) } };
        batch.BatchCommands[1].With("booking_id", bookingId).With("hold_id", holdId).With("show_id", showId).With("now", now);
        foreach (var command in alongside)
        {
            batch.BatchCommands.Add(command);
        }

        var booked = (bool)(await batch.ExecuteScalarAsync(cancellationToken))!;
        if (booked)
        {
            seats.Changed(showId);
        }

        return booked;
    }

    /// <summary>
    /// Returns booked seats to sale (a cancellation by the customer): the booking's seats become
    /// inactive and available again, and the seat event is appended. <paramref name="alongside"/>, the
    /// caller's own statement of the same transaction (the booking and its refund), is sent in the
    /// same round trip, after this one.
    /// </summary>
    public static async Task ReturnAsync(
        SeatTransaction seats, long bookingId, long showId, long[] seatIds, DateTimeOffset now, NpgsqlBatchCommand alongside, CancellationToken cancellationToken)
    {
        await using var batch = new NpgsqlBatch(seats.Connection) { BatchCommands = { new NpgsqlBatchCommand(ReturnSql), alongside } };
        batch.BatchCommands[0].With("booking_id", bookingId).With("show_id", showId).With("seat_ids", seatIds).With("now", now);
        await batch.ExecuteNonQueryAsync(cancellationToken);
        seats.Changed(showId);
    }

    /// <summary>
    /// Cancels a show's inventory: its live holds are released (and their expiry jobs cancelled), its
    /// confirmed bookings' seats are no longer active, and the freed seats are one seat event.
    /// <paramref name="alongside"/> (the show, its bookings and refunds) runs after it in the same
    /// round trip. Returns the number of holds released.
    /// </summary>
    public static async Task<int> CancelShowAsync(SeatTransaction seats, long showId, DateTimeOffset now, NpgsqlBatchCommand alongside, CancellationToken cancellationToken)
    {
        await using var batch = new NpgsqlBatch(seats.Connection) { BatchCommands = { new NpgsqlBatchCommand(CancelShowSql), alongside } };
        batch.BatchCommands[0].With("show_id", showId).With("now", now);
        int released;
        await using (var reader = await batch.ExecuteReaderAsync(cancellationToken))
        {
            await reader.ReadAsync(cancellationToken);
            released = reader.Get<int>("holds_released");
        }

        seats.Changed(showId);
        return released;
    }

    /// <summary>
    /// Blocks seats of a show (house, broken or crew seats; decision 0025), all or nothing: each
    /// named seat is locked (waiting for a hold in flight to commit or roll back), and if any is held
    /// or booked nothing changes and they come back as <see cref="SeatBlockResult.Refused"/>.
    /// Otherwise the available ones become <c>blocked</c> with <paramref name="reason"/>, in one
    /// seat event (<c>blocked</c>); seats already blocked stay as they are (so a repeat is harmless).
    /// </summary>
    public static async Task<SeatBlockResult> BlockAsync(
        SeatTransaction seats, long showId, string[] labels, string reason, long actorUserId, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(BlockSql, seats.Connection)
            .With("show_id", showId).With("labels", labels).With("reason", reason).With("actor", actorUserId).With("now", now);
        return await ReadBlockResultAsync(seats, showId, command, cancellationToken);
    }

    /// <summary>
    /// Puts blocked seats of a show back on sale, in one seat event (<c>unblocked</c>, state
    /// <c>available</c>). Seats not blocked are left as they are, so a repeat is harmless.
    /// </summary>
    public static async Task<SeatBlockResult> UnblockAsync(SeatTransaction seats, long showId, string[] labels, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(UnblockSql, seats.Connection).With("show_id", showId).With("labels", labels).With("now", now);
        return await ReadBlockResultAsync(seats, showId, command, cancellationToken);
    }

    /// <summary>
    /// Marks seats of a venue's layout blocked (or not): shows stocked from now on start with them
    /// blocked. Shows already on the venue keep their own seat states (decision 0025). Returns the
    /// known labels and those changed.
    /// </summary>
    public static async Task<SeatBlockResult> SetLayoutBlockedAsync(
        NpgsqlConnection connection, long venueId, string[] labels, bool blocked, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(LayoutBlockedSql, connection)
            .With("venue_id", venueId).With("labels", labels).With("blocked", blocked);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return new SeatBlockResult(reader.Get<string[]>("known"), [], reader.Get<string[]>("changed"), null);
    }

    private static async Task<SeatBlockResult> ReadBlockResultAsync(SeatTransaction seats, long showId, NpgsqlCommand command, CancellationToken cancellationToken)
    {
        SeatBlockResult result;
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            await reader.ReadAsync(cancellationToken);
            result = new SeatBlockResult(reader.Get<string[]>("known"), reader.Get<string[]>("refused"), reader.Get<string[]>("changed"), reader.Get<long?>("seq"));
        }

        if (result.Seq is not null)
        {
            seats.Changed(showId);
        }

        return result;
    }

    /// <summary>
    /// Creates the inventory of new shows: a <c>show_seat</c> per seat of each show's venue and the
    /// show's <c>seat_feed</c> row (its event numbers start there). Call it in the transaction that
    /// inserted the shows. Returns the number of seats stocked.
    /// </summary>
    public static async Task<int> StockShowsAsync(NpgsqlConnection connection, long[] showIds, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(StockSql, connection).With("show_ids", showIds);
        command.CommandTimeout = 0; // the demo seed stocks thousands of shows at once
        return (int)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>Writes the seats of a new venue.</summary>
    public static async Task WriteVenueSeatsAsync(NpgsqlConnection connection, long venueId, IReadOnlyList<SeatSpec> seats, CancellationToken cancellationToken)
    {
        await using var command = BindSeats(new NpgsqlCommand(WriteVenueSeatsSql, connection).With("venue_id", venueId), seats);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// Replaces a venue's seats, and the inventory of its shows still to come, with
    /// <paramref name="seats"/>. The caller has checked, under the venue's row lock, that no show of
    /// the venue has holds: a hold committed since fails this with a foreign-key violation.
    /// </summary>
    public static async Task ReplaceVenueSeatsAsync(NpgsqlConnection connection, long venueId, IReadOnlyList<SeatSpec> seats, CancellationToken cancellationToken)
    {
        await using var command = BindSeats(new NpgsqlCommand(ReplaceVenueSeatsSql, connection).With("venue_id", venueId), seats);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static NpgsqlCommand BindSeats(NpgsqlCommand command, IReadOnlyList<SeatSpec> seats) => command
        .With("sections", seats.Select(s => s.Section).ToArray())
        .With("rows", seats.Select(s => s.Row).ToArray())
        .With("numbers", seats.Select(s => s.Number).ToArray())
        .With("labels", seats.Select(s => s.Label).ToArray())
        .With("categories", seats.Select(s => s.Category).ToArray())
        .With("xs", seats.Select(s => s.X).ToArray())
        .With("ys", seats.Select(s => s.Y).ToArray())
        .With("accesses", seats.Select(s => s.Access).ToArray())
        .With("blocked", seats.Select(s => s.Blocked).ToArray())
        .With("ranks", seats.Select(s => s.Rank).ToArray());

    private static NpgsqlBatchCommand EndHoldCommand(long holdId, long? ownerId, string endStatus, DateTimeOffset now) =>
        new NpgsqlBatchCommand(EndHoldSql).With("hold_id", holdId).With("owner_id", ownerId).With("end_status", endStatus).With("now", now);

    // The last result of the batch is the end-hold statement's.
    private static async Task<(long ShowId, DateTimeOffset ExpiresAt)?> ReadEndedAsync(SeatTransaction seats, NpgsqlBatch batch, CancellationToken cancellationToken)
    {
        (long ShowId, DateTimeOffset ExpiresAt)? ended;
        await using (var reader = await batch.ExecuteReaderAsync(cancellationToken))
        {
            while (reader.FieldCount == 0 && await reader.NextResultAsync(cancellationToken))
            {
            }

            ended = await reader.ReadAsync(cancellationToken) ? (reader.Get<long>("show_id"), reader.Get<DateTimeOffset>("expires_at")) : null;
        }

        if (ended is { } hold)
        {
            seats.Changed(hold.ShowId);
        }

        return ended;
    }

    // One statement: the hold, its priced seats, the seat flips, the expiry job (outbox: it commits
    // or rolls back with the hold) and the seat event, announced once the transaction commits. A new
    // hold's expiry cannot collide with a live one, so no ON CONFLICT (speculative insertion) is paid.
    private static readonly string TakeSql = $"""
        with new_hold as (
          insert into hold (show_id, app_user_id, currency, total_minor, seat_count, created_at, expires_at)
          values (@show_id, @user_id, @currency, @total_minor, cardinality(@seat_ids), @now, @expires_at)
          returning hold_id
        ), priced as (
          insert into hold_seat (hold_id, show_id, seat_id, category, price_minor)
          select new_hold.hold_id, @show_id, x.seat_id, x.category, x.price_minor
          from new_hold, unnest(@seat_ids, @categories, @prices) as x (seat_id, category, price_minor)
        ), marked as (
          update show_seat ss
          set state = 'held', hold_id = new_hold.hold_id
          from new_hold
          where ss.show_id = @show_id and ss.seat_id = any(@seat_ids) and ss.state = 'available'
          returning ss.seat_id
        ), expiry as (
          {JobSql.Insert<HoldExpiry>("select hold_id, @expires_at as run_at, @now as created_at from new_hold", skipDuplicates: false)}
        )
        select (select hold_id from new_hold) as hold_id,
               (select count(*) from marked) as marked,
               seat_feed_append(@show_id, 'held', 'held', (select array_agg(seat_id order by seat_id) from marked), @now)
        """;

    // An expiry only ends a hold that is past due; a release only the owner's, and not while a
    // checkout is paying for it. The seat flip checks hold_id so it can never free a seat that has
    // since moved to another hold or a booking.
    private static readonly string EndHoldSql = $"""
        with ended as (
          update hold
          set status = @end_status, ended_at = @now
          where hold_id = @hold_id
            and status = 'active'
            and (@owner_id::bigint is null or app_user_id = @owner_id)
            and (@end_status <> 'expired' or expires_at <= @now)
            and (@end_status <> 'released'
                 or not exists (select 1 from booking b where b.hold_id = hold.hold_id and b.status = 'pending_payment'))
          returning hold_id, show_id, expires_at
        ), freed as (
          update show_seat ss
          set state = 'available', hold_id = null
          from ended, hold_seat hs
          where hs.hold_id = ended.hold_id
            and ss.show_id = ended.show_id and ss.seat_id = hs.seat_id
            and ss.hold_id = ended.hold_id
          returning ss.seat_id
        ), expiry as (
          {JobSql.CancelByKey<HoldExpiry>("select hold_id from ended")}
        )
        select ended.hold_id, ended.show_id,
               seat_feed_append(ended.show_id, @end_status, 'available',
                                (select array_agg(seat_id order by seat_id) from freed), @now),
               ended.expires_at
        from ended
        """;

    // Another customer's hold is not found (and not locked).
    private const string LockOwnHoldSql = """
        select status from hold where hold_id = @hold_id and (app_user_id = @user_id or @is_admin) for update
        """;

    private const string PendingCheckoutSql = """
        select booking_id from booking where hold_id = @hold_id and status = 'pending_payment'
        """;

    private const string DueNowSql = """
        update hold set expires_at = least(expires_at, @now) where hold_id = @hold_id and status = 'active'
        """;

    // Takes every seat of the hold: those it still holds, or (hold gone) those that are free again.
    // All or nothing: if any seat is taken by someone else, nothing changes and false comes back.
    private static readonly string BookSql = $"""
        with wanted as (
          select hs.seat_id, hs.category, hs.price_minor from hold_seat hs where hs.hold_id = @hold_id
        ), takeable as (
          select ss.seat_id from show_seat ss join wanted w on w.seat_id = ss.seat_id
          where ss.show_id = @show_id
            and ((ss.state = 'held' and ss.hold_id = @hold_id) or ss.state = 'available')
          for update of ss skip locked
        ), ok as (
          select (select count(*) from takeable) = (select count(*) from wanted) as all_free
        ), marked as (
          update show_seat ss set state = 'booked', hold_id = null, booking_id = @booking_id
          from ok where ok.all_free and ss.show_id = @show_id and ss.seat_id in (select seat_id from takeable)
          returning ss.seat_id
        ), sold as (
          insert into booking_seat (booking_id, show_id, seat_id, category, price_minor)
          select @booking_id, @show_id, w.seat_id, w.category, w.price_minor from wanted w, ok where ok.all_free
        ), tickets as (
          -- One ticket per sold seat, in the confirming commit; its code is ticket_code()'s (migration 0026).
          insert into ticket (booking_id, seat_id, show_id, issued_at)
          select @booking_id, w.seat_id, @show_id, @now from wanted w, ok where ok.all_free
        ), confirmed as (
          update booking set status = 'confirmed', confirmed_at = @now from ok where ok.all_free and booking_id = @booking_id
        ), hold_done as (
          update hold set status = 'booked', ended_at = coalesce(ended_at, @now) from ok where ok.all_free and hold_id = @hold_id
        ), expiry as (
          {JobSql.CancelByKey<HoldExpiry>("select @hold_id::bigint as hold_id from ok where ok.all_free")}
        ), audited as (
          insert into audit_log (occurred_at, actor_user_id, action, entity, entity_id, before, after)
          select @now, null, 'booking.confirmed', 'booking', @booking_id, jsonb_build_object('status', 'pending_payment'), jsonb_build_object('status', 'confirmed')
          from ok where ok.all_free
        )
        select all_free and seat_feed_append(@show_id, 'booked', 'booked', (select array_agg(seat_id order by seat_id) from marked), @now) is not null
        from ok
        """;

    // FOR UPDATE (not SKIP LOCKED): an organizer's block waits for a hold in flight and then sees
    // its outcome, so a seat being held right now is refused rather than skipped. The flip is still
    // conditional on 'available', and nothing flips when any named seat is held or booked.
    private const string BlockSql = """
        with wanted as (
          select ss.seat_id, se.label, ss.state
          from show_seat ss join seat se on se.seat_id = ss.seat_id
          where ss.show_id = @show_id and se.label = any(@labels)
          for update of ss
        ), refused as (
          select label from wanted where state in ('held', 'booked')
        ), marked as (
          update show_seat ss set state = 'blocked'
          from wanted w
          where not exists (select 1 from refused)
            and ss.show_id = @show_id and ss.seat_id = w.seat_id and ss.state = 'available'
          returning ss.seat_id, w.label
        ), explained as (
          insert into show_seat_block (show_id, seat_id, reason, blocked_by_app_user_id, blocked_at)
          select @show_id, seat_id, @reason, @actor, @now from marked
          on conflict on constraint show_seat_block_pk do update
            set reason = excluded.reason, blocked_by_app_user_id = excluded.blocked_by_app_user_id, blocked_at = excluded.blocked_at
        )
        select coalesce((select array_agg(label order by label) from wanted), '{}') as known,
               coalesce((select array_agg(label order by label) from refused), '{}') as refused,
               coalesce((select array_agg(label order by label) from marked), '{}') as changed,
               seat_feed_append(@show_id, 'blocked', 'blocked', (select array_agg(seat_id order by seat_id) from marked), @now) as seq
        """;

    // Only a blocked seat is freed; its explanation goes with it.
    private const string UnblockSql = """
        with freed as (
          update show_seat ss set state = 'available'
          from seat se
          where ss.show_id = @show_id and se.seat_id = ss.seat_id and se.label = any(@labels) and ss.state = 'blocked'
          returning ss.seat_id, se.label
        ), explained as (
          delete from show_seat_block b using freed f where b.show_id = @show_id and b.seat_id = f.seat_id
        )
        select coalesce((select array_agg(se.label order by se.label)
                         from show_seat ss join seat se on se.seat_id = ss.seat_id
                         where ss.show_id = @show_id and se.label = any(@labels)), '{}') as known,
               '{}'::text[] as refused,
               coalesce((select array_agg(label order by label) from freed), '{}') as changed,
               seat_feed_append(@show_id, 'unblocked', 'available', (select array_agg(seat_id order by seat_id) from freed), @now) as seq
        """;

    // The layout's flag only; shows already stocked are not touched (decision 0025).
    private const string LayoutBlockedSql = """
        with changed as (
          update seat set blocked = @blocked
          where venue_id = @venue_id and label = any(@labels) and blocked <> @blocked
          returning label
        )
        select coalesce((select array_agg(label order by label) from seat where venue_id = @venue_id and label = any(@labels)), '{}') as known,
               coalesce((select array_agg(label order by label) from changed), '{}') as changed
        """;

    // Seats back on sale: the booking's seats inactive, the show's seats available again.
    private const string ReturnSql = """
        with released_seats as (
          update booking_seat set active = false where booking_id = @booking_id and seat_id = any(@seat_ids) and active
          returning seat_id
        ), freed as (
          update show_seat ss set state = 'available', booking_id = null
          where ss.show_id = @show_id and ss.booking_id = @booking_id and ss.seat_id in (select seat_id from released_seats)
          returning ss.seat_id
        )
        select seat_feed_append(@show_id, 'released', 'available', (select array_agg(seat_id order by seat_id) from freed), @now)
        """;

    // The caller holds the show row FOR UPDATE, which conflicts with the KEY SHARE every hold takes
    // on its show: holds in flight finished first and are released here; later ones see the show
    // cancelled. Booked seats stay booked (the show will not run) but leave their bookings.
    private static readonly string CancelShowSql = $"""
        with ended as (
          update hold set status = 'released', ended_at = @now
          where show_id = @show_id and status = 'active'
          returning hold_id
        ), freed as (
          update show_seat ss set state = 'available', hold_id = null
          from ended
          where ss.show_id = @show_id and ss.hold_id = ended.hold_id
          returning ss.seat_id
        ), expiries as (
          {JobSql.CancelByKey<HoldExpiry>("select hold_id from ended")}
        ), seats_back as (
          update booking_seat bs set active = false
          from booking b
          where b.booking_id = bs.booking_id and b.show_id = @show_id and b.status = 'confirmed' and bs.active
        )
        select (select count(*)::int from ended) as holds_released,
               seat_feed_append(@show_id, 'released', 'available', (select array_agg(seat_id order by seat_id) from freed), @now)
        """;

    // Every seat of each show's venue, with its category, best-available rank, section, drawing position
    // and access copied for the pick (migration 0039), and the feed row.
    // Seats blocked in the layout start blocked (decision 0025); a show's feed starts after them.
    private const string StockSql = """
        with stocked as (
          insert into show_seat (show_id, seat_id, category, rank, section, y, x, access, state)
          select sh.show_id, se.seat_id, se.category, se.rank, se.section, se.y, se.x, se.access,
                 case when se.blocked then 'blocked' else 'available' end
          from show sh join seat se on se.venue_id = sh.venue_id
          where sh.show_id = any(@show_ids)
          returning 1
        ), feed as (
          insert into seat_feed (show_id) select unnest(@show_ids)
        )
        select count(*)::int from stocked
        """;

    private const string WriteVenueSeatsSql = """
        insert into seat (venue_id, section, row_label, seat_number, label, category, x, y, rank, access, blocked)
        select @venue_id, s.section, s.row_label, s.seat_number, s.label, s.category, s.x, s.y, s.rank, s.access, s.blocked
        from unnest(@sections, @rows, @numbers, @labels, @categories, @xs, @ys, @ranks, @accesses, @blocked)
               as s (section, row_label, seat_number, label, category, x, y, rank, access, blocked)
        """;

    // Every show of the venue loses its old inventory (none has holds); those still to run get the new seats.
    private const string ReplaceVenueSeatsSql = """
        delete from show_seat where show_id in (select show_id from show where venue_id = @venue_id);
        delete from seat where venue_id = @venue_id;
        insert into seat (venue_id, section, row_label, seat_number, label, category, x, y, rank, access, blocked)
        select @venue_id, s.section, s.row_label, s.seat_number, s.label, s.category, s.x, s.y, s.rank, s.access, s.blocked
        from unnest(@sections, @rows, @numbers, @labels, @categories, @xs, @ys, @ranks, @accesses, @blocked)
               as s (section, row_label, seat_number, label, category, x, y, rank, access, blocked);
        insert into show_seat (show_id, seat_id, category, rank, section, y, x, access, state)
        select sh.show_id, se.seat_id, se.category, se.rank, se.section, se.y, se.x, se.access,
               case when se.blocked then 'blocked' else 'available' end
        from show sh join seat se on se.venue_id = sh.venue_id
        where sh.venue_id = @venue_id and sh.status not in ('cancelled', 'completed');
        """;
}

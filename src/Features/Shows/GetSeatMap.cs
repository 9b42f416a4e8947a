using Carter;
using Holdfast.Infrastructure.Caching;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Npgsql;

namespace Holdfast.Features.Shows;

/// <summary>
/// <c>GET /shows/{id}/seats</c>: the show's seat map with each seat's state, read in one statement
/// so the map and its <c>seq</c> are one consistent snapshot. Open the SSE stream with
/// <c>Last-Event-ID: seq</c> to follow it from exactly there.
/// </summary>
public sealed class GetSeatMap : ICarterModule
{
    /// <summary>The seat map. PostgreSQL writes the JSON (see <c>SnapshotSql</c>); this record is its documented shape.</summary>
    /// <param name="ShowId">The show.</param>
    /// <param name="Seq">The show's last seat event number: follow the SSE stream from here with <c>Last-Event-ID</c>.</param>
    /// <param name="Currency">ISO 4217 code of every price.</param>
    /// <param name="CurrencyExponent">Digits after the decimal point: 1250 minor units is 12.50 at 2.</param>
    /// <param name="Prices">Price per seat category, in minor units.</param>
    /// <param name="Seats">Every seat, front to back, left to right.</param>
    public sealed record Response(long ShowId, long Seq, string Currency, int CurrencyExponent, IReadOnlyDictionary<string, long> Prices, IReadOnlyList<Seat> Seats);

    /// <summary>A seat and its state for this show.</summary>
    /// <param name="SeatId">The seat id, as held.</param>
    /// <param name="Label">What the customer reads, e.g. <c>12A</c>.</param>
    /// <param name="Section">Section, e.g. <c>Stalls</c> or <c>Cabin</c>.</param>
    /// <param name="Row">Row label.</param>
    /// <param name="Number">Seat number in its row.</param>
    /// <param name="Category">Seat category, e.g. <c>economy</c>; its price is in <c>prices</c>.</param>
    /// <param name="X">Drawing column, in seat widths.</param>
    /// <param name="Y">Drawing row, in seat widths.</param>
    /// <param name="State"><c>available</c>, <c>held</c>, <c>booked</c> or <c>blocked</c>.</param>
    /// <param name="Access"><c>wheelchair</c> (a wheelchair space), <c>companion</c> (a seat beside one), or null. Best-available offers
    /// these only to a party asking for accessible seats (<c>accessible: true</c>).</param>
    public sealed record Seat(long SeatId, string Label, string Section, string Row, int Number, string Category, int X, int Y, string State, string? Access);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app) =>
        app.MapGet("/shows/{showId:long}/seats", HandleAsync)
            .WithTags("Shows")
            .WithSummary("Get a show's seat map")
            .WithDescription("Each seat's state is available, held, booked or blocked. 404 when there is no such show. " +
                             "Answers carry an ETag; If-None-Match gives 304.")
            .Produces<Response>(StatusCodes.Status200OK)
            .AnswersWithETag();

    internal static async Task<IResult> HandleAsync(
        long showId, HttpContext http, NpgsqlDataSource db, ReadReplica reads, ReadCache cache, CancellationToken cancellationToken)
    {
        var seq = await CurrentSeqAsync(db, showId, cancellationToken);
        return seq is null
            ? Problems.NotFound("Show")
            : ReadCache.Write(http, await ReadSnapshotAsync(reads, IsAnonymous(http), cache, showId, seq.Value, cancellationToken));
    }

    /// <summary>
    /// True for a viewer without a token: their seat map may come from a caught-up replica
    /// (<see cref="ReadReplica"/>); a signed-in viewer's is read on the primary.
    /// </summary>
    internal static bool IsAnonymous(HttpContext http) => http.User.Identity?.IsAuthenticated != true;

    /// <summary>The show's last seat event number (<c>seat_feed.last_seq</c>), or null when there is no such show.</summary>
    internal static async Task<long?> CurrentSeqAsync(NpgsqlDataSource db, long showId, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand("select last_seq from seat_feed where show_id = @show_id");
        command.With("show_id", showId);
        return (long?)await command.ExecuteScalarAsync(cancellationToken);
    }

    /// <summary>
    /// The seat map of an existing show (see <see cref="CurrentSeqAsync"/>) as UTF-8 JSON built by
    /// PostgreSQL (no per-seat objects in .NET) with its ETag; its <c>seq</c> is
    /// <paramref name="atLeastSeq"/> or later. Cached per seat event number, so a reader who just
    /// changed seats (and so knows a later number) never gets a map from before the change, however
    /// late the cache hears of it. Also the SSE stream's <c>snapshot</c> event. With
    /// <paramref name="mayUseReplica"/> it is built on a replica that has replayed the primary's WAL
    /// up to the moment of the read (<see cref="ReadReplica"/>), so its <c>seq</c> is still at least
    /// <paramref name="atLeastSeq"/>.
    /// </summary>
    internal static Task<CachedResponse> ReadSnapshotAsync(
        ReadReplica reads, bool mayUseReplica, ReadCache cache, long showId, long atLeastSeq, CancellationToken cancellationToken) =>
        cache.GetOrAddAsync($"seats:{showId}:{atLeastSeq}", async ct =>
        {
            var json = await reads.ReadAsync(mayUseReplica, async (connection, token) =>
            {
                await using var command = new NpgsqlCommand(SnapshotSql, connection);
                command.With("show_id", showId);
                return (string?)await command.ExecuteScalarAsync(token);
            }, ct);
            // The seat_feed row exists only with its show, and shows are never deleted.
            return (System.Text.Encoding.UTF8.GetBytes(json ?? throw new InvalidOperationException($"Show {showId} has a seat feed but no row.")), [showId]);
        }, cancellationToken);

    private const string SnapshotSql = """
        select json_build_object(
                 'show_id', s.show_id,
                 'seq', f.last_seq,
                 'currency', s.currency,
                 'currency_exponent', (select exponent from currency where code = s.currency),
                 'prices', (select json_object_agg(p.category, p.amount_minor) from show_price p where p.show_id = s.show_id),
                 'seats', coalesce((select json_agg(json_build_object(
                              'seat_id', ss.seat_id, 'label', se.label, 'section', se.section, 'row', se.row_label,
                              'number', se.seat_number, 'category', ss.category, 'x', se.x, 'y', se.y, 'state', ss.state,
                              'access', se.access)
                            order by se.y, se.x)
                           from show_seat ss join seat se on se.seat_id = ss.seat_id
                           where ss.show_id = s.show_id), '[]'))::text
        from show s
        join seat_feed f on f.show_id = s.show_id
        where s.show_id = @show_id
        """;
}

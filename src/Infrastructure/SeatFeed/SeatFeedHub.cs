using System.Collections.Concurrent;
using System.ComponentModel.DataAnnotations;
using System.Text.Json;
using System.Threading.Channels;
using Holdfast.Infrastructure.Database;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Holdfast.Infrastructure.SeatFeed;

/// <summary>
/// One committed change to some seats of one show, as written by <c>seat_feed_append</c>.
/// </summary>
/// <param name="ShowId">The show.</param>
/// <param name="Seq">Gapless per-show sequence number (1, 2, 3, …); the SSE event id.</param>
/// <param name="Json">The event as sent to SSE clients:
/// <c>{"show_id","seq","kind","state","seat_ids":[…],"occurred_at"}</c>, serialized once for every subscriber;
/// a <c>checked_in</c> event adds the show's <c>admitted</c> and <c>expected</c> ticket counts.</param>
public sealed record SeatChange(long ShowId, long Seq, string Json);

/// <summary>A live subscription to one show's seat changes; dispose to leave.</summary>
public sealed class SeatFeedSubscription : IDisposable
{
    private readonly Action<SeatFeedSubscription> leave;
    private readonly Action<SeatFeedSubscription, long> startFrom;

    internal SeatFeedSubscription(long showId, int capacity, Action<SeatFeedSubscription> leave, Action<SeatFeedSubscription, long> startFrom)
    {
        ShowId = showId;
        this.leave = leave;
        this.startFrom = startFrom;
        // A slow reader loses its oldest buffered changes rather than stalling the hub; it sees the
        // jump in Seq on its next read and fills the gap from seat_event.
        Channel = System.Threading.Channels.Channel.CreateBounded<SeatChange>(new BoundedChannelOptions(capacity)
        {
            FullMode = BoundedChannelFullMode.DropOldest,
            SingleReader = true,
            SingleWriter = true,
        });
    }

    /// <summary>The show subscribed to.</summary>
    public long ShowId { get; }

    internal Channel<SeatChange> Channel { get; }

    /// <summary>Changes in commit order; may skip some (see <see cref="SeatChange.Seq"/>) if the reader falls behind.</summary>
    public ChannelReader<SeatChange> Reader => Channel.Reader;

    /// <summary>
    /// Tells the hub that the subscriber has the show's state up to event <paramref name="seq"/>
    /// (its snapshot or replay). Until the first subscriber of a show says so, the hub does not know
    /// where to start reading the show's events, and reads none.
    /// </summary>
    public void StartFrom(long seq) => startFrom(this, seq);

    /// <inheritdoc />
    public void Dispose() => leave(this);
}

/// <summary>Settings of the seat feed hub (section <c>SeatFeed</c>).</summary>
public sealed class SeatFeedOptions
{
    /// <summary>
    /// How often, in milliseconds, a node compares <c>seat_feed.last_seq</c> of the shows it has
    /// subscribers on with what it delivered (default 1000). This bounds how late an event is
    /// whose announcement never came: its writer died between commit and announcement, or it was
    /// written by plain SQL.
    /// </summary>
    [Range(10, 86_400_000)]
    public int PollMilliseconds { get; set; } = 1000;
}

/// <summary>
/// The process's one LISTEN connection on <c>holdfast_seat_events</c>, fanned out in memory to every
/// SSE subscriber of this node (GUIDE §5). Every node listens to the same database, so a change
/// committed through any node reaches subscribers on all of them.
/// </summary>
/// <remarks>
/// A notification names shows whose feeds changed (<see cref="SeatFeedAnnouncer"/>); the events
/// themselves are read from <c>seat_event</c>, once per show for all of this node's subscribers, in
/// sequence order from the last one delivered. So a late, merged or missing notification can delay
/// an event but never lose or reorder it: the next notification for the show, the poll of
/// <c>seat_feed</c> every <see cref="SeatFeedOptions.PollMilliseconds"/>, or the catch-up after the
/// listening connection comes back delivers everything after the last event delivered
/// (docs/decisions/0009-seat-feed-announced-after-commit.md).
/// </remarks>
public sealed class SeatFeedHub(NpgsqlDataSource dataSource, Caching.ReadCache cache, IOptions<SeatFeedOptions> options, ILogger<SeatFeedHub> logger) : BackgroundService
{
    /// <summary>The NOTIFY channel on which <see cref="SeatFeedAnnouncer"/> names the shows whose seat feeds changed.</summary>
    public const string ChannelName = "holdfast_seat_events";

    private const int SubscriberCapacity = 256;
    private readonly ConcurrentDictionary<long, ShowSubscribers> shows = new();
    private readonly TaskCompletionSource listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes once the first LISTEN is in place (tests wait on it before racing writes).</summary>
    public Task Listening => listening.Task;

    /// <summary>SSE subscribers on this node now, over all shows.</summary>
    public int SubscriberCount => shows.Values.Sum(s => s.Members.Length);

    /// <summary>Subscribes to <paramref name="showId"/>'s changes from now on.</summary>
    public SeatFeedSubscription Subscribe(long showId)
    {
        var subscription = new SeatFeedSubscription(showId, SubscriberCapacity, Leave, StartFrom);
        while (true)
        {
            var subscribers = shows.GetOrAdd(showId, _ => new ShowSubscribers());
            lock (subscribers)
            {
                // The last subscriber may have just left and taken this entry out of the map.
                if (!subscribers.Removed)
                {
                    subscribers.Members = subscribers.Members.Add(subscription);
                    return subscription;
                }
            }
        }
    }

    /// <summary>
    /// Reads a show's events with <c>afterSeq &lt; seq &lt;= uptoSeq</c> from <c>seat_event</c>, in order.
    /// </summary>
    public async Task<List<SeatChange>> ReadAsync(long showId, long afterSeq, long uptoSeq, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(ReadEventsSql);
        command.With("show_id", showId);
        command.With("after_seq", afterSeq);
        command.With("upto_seq", uptoSeq);
        var changes = new List<SeatChange>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            changes.Add(new SeatChange(showId, reader.Get<long>("seq"), reader.Get<string>("event")));
        }

        return changes;
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var poll = PollAsync(stoppingToken);
        try
        {
            await ListenAsync(stoppingToken);
        }
        finally
        {
            await poll;
        }
    }

    private Task ListenAsync(CancellationToken stoppingToken) =>
        NotificationListener.RunAsync(dataSource, [ChannelName, Caching.ReadCache.CatalogueChannel],
            e =>
            {
                if (e.Channel == Caching.ReadCache.CatalogueChannel)
                {
                    cache.InvalidateAll();
                }
                else
                {
                    OnNotification(e.Payload);
                }
            },
            onListening: () =>
            {
                listening.TrySetResult();
                // Whatever changed while nobody listened is unknown: start the cache afresh.
                cache.InvalidateAll();
                CatchUpAll();
            },
            onLost: () => { },
            "Seat feed listener", logger, TimeProvider.System, stoppingToken);

    // The payload is a JSON array of show ids. A JSON object with a show_id (what seat_feed_append
    // sent before migration 0020, or a hand-written pg_notify) is read the same way.
    private void OnNotification(string payload)
    {
        var changed = new List<long>();
        try
        {
            using var document = JsonDocument.Parse(payload);
            var root = document.RootElement;
            if (root.ValueKind == JsonValueKind.Array)
            {
                foreach (var show in root.EnumerateArray())
                {
                    changed.Add(show.GetInt64());
                }
            }
            else
            {
                changed.Add(root.GetProperty("show_id").GetInt64());
            }
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            logger.LogError(ex, "Ignoring malformed seat feed notification {Payload}", payload);
            return;
        }

        foreach (var showId in changed)
        {
            cache.InvalidateShow(showId);
            if (shows.TryGetValue(showId, out var subscribers))
            {
                CatchUp(showId, subscribers);
            }
        }
    }

    // Reads the show's events after the last one delivered and hands them to its subscribers. One
    // read at a time per show, so events are delivered in order; a request that arrives during a
    // read makes it read again, so nothing committed before the request is left behind.
    private void CatchUp(long showId, ShowSubscribers subscribers)
    {
        lock (subscribers)
        {
            subscribers.Wanted = true;
            if (subscribers.Reading || subscribers.LastSeq is null)
            {
                return;
            }

            subscribers.Reading = true;
        }

        _ = Task.Run(async () =>
        {
            while (true)
            {
                long after;
                lock (subscribers)
                {
                    if (!subscribers.Wanted || subscribers.Removed)
                    {
                        subscribers.Reading = false;
                        return;
                    }

                    subscribers.Wanted = false;
                    after = subscribers.LastSeq!.Value;
                }

                try
                {
                    foreach (var change in await ReadAsync(showId, after, long.MaxValue, CancellationToken.None))
                    {
                        Dispatch(subscribers, change);
                    }
                }
                catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException or TimeoutException)
                {
                    logger.LogWarning(ex, "Could not read seat events of show {Show}; the next poll tries again", showId);
                    lock (subscribers)
                    {
                        subscribers.Reading = false;
                    }

                    return;
                }
            }
        });
    }

    private void StartFrom(SeatFeedSubscription subscription, long seq)
    {
        if (!shows.TryGetValue(subscription.ShowId, out var subscribers))
        {
            return;
        }

        bool wanted;
        lock (subscribers)
        {
            if (subscribers.LastSeq is not null)
            {
                return;
            }

            subscribers.LastSeq = seq;
            wanted = subscribers.Wanted;
        }

        if (wanted)
        {
            CatchUp(subscription.ShowId, subscribers);
        }
    }

    private static void Dispatch(ShowSubscribers subscribers, SeatChange change)
    {
        lock (subscribers)
        {
            if (change.Seq <= subscribers.LastSeq)
            {
                return;
            }

            subscribers.LastSeq = change.Seq;
        }

        foreach (var subscription in subscribers.Members)
        {
            subscription.Channel.Writer.TryWrite(change);
        }
    }

    // After (re)connecting, deliver whatever committed while nobody was listening.
    private void CatchUpAll()
    {
        foreach (var (showId, subscribers) in shows)
        {
            CatchUp(showId, subscribers);
        }
    }

    // The safety net under the notifications: compare each subscribed show's last sequence number
    // with what was delivered, and catch up the ones behind.
    private async Task PollAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(Math.Max(10, options.Value.PollMilliseconds)));
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                var subscribed = shows.Keys.ToArray();
                if (subscribed.Length == 0)
                {
                    continue;
                }

                try
                {
                    await using var command = dataSource.CreateCommand(LastSeqSql);
                    command.With("show_ids", subscribed);
                    await using var reader = await command.ExecuteReaderAsync(stoppingToken);
                    while (await reader.ReadAsync(stoppingToken))
                    {
                        var showId = reader.Get<long>("show_id");
                        var lastSeq = reader.Get<long>("last_seq");
                        if (shows.TryGetValue(showId, out var subscribers) && lastSeq > (subscribers.LastSeq ?? long.MaxValue))
                        {
                            cache.InvalidateShow(showId);
                            CatchUp(showId, subscribers);
                        }
                    }
                }
                catch (Exception ex) when (ex is NpgsqlException or TimeoutException)
                {
                    logger.LogWarning(ex, "Seat feed poll failed; trying again in {Interval} ms", options.Value.PollMilliseconds);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private void Leave(SeatFeedSubscription subscription)
    {
        subscription.Channel.Writer.TryComplete();
        if (!shows.TryGetValue(subscription.ShowId, out var subscribers))
        {
            return;
        }

        lock (subscribers)
        {
            subscribers.Members = subscribers.Members.Remove(subscription);
            if (subscribers.Members.IsEmpty)
            {
                subscribers.Removed = true;
                shows.TryRemove(new KeyValuePair<long, ShowSubscribers>(subscription.ShowId, subscribers));
            }
        }
    }

    private sealed class ShowSubscribers
    {
        // Copy-on-write: dispatch iterates a snapshot without taking the lock.
        public System.Collections.Immutable.ImmutableArray<SeatFeedSubscription> Members { get; set; } = [];

        // The last event delivered; null until the first subscriber says where it starts.
        public long? LastSeq { get; set; }

        // A catch-up was asked for; Reading: one is running.
        public bool Wanted { get; set; }

        public bool Reading { get; set; }

        public bool Removed { get; set; }
    }

    private const string LastSeqSql = """
        select show_id, last_seq from seat_feed where show_id = any(@show_ids)
        """;

    private const string ReadEventsSql = """
        select seq,
               case when admitted is null
                    then json_build_object('show_id', show_id, 'seq', seq, 'kind', kind, 'state', state,
                                           'seat_ids', seat_ids, 'occurred_at', occurred_at)
                    else json_build_object('show_id', show_id, 'seq', seq, 'kind', kind, 'state', state,
                                           'seat_ids', seat_ids, 'occurred_at', occurred_at, 'admitted', admitted, 'expected', expected)
               end::text as event
        from seat_event
        where show_id = @show_id and seq > @after_seq and seq <= @upto_seq
        order by seq
        """;
}

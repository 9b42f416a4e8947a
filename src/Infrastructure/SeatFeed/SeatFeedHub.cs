using System.Collections.Concurrent;
using System.Text.Json;
using System.Threading.Channels;
using Npgsql;

namespace Holdfast.Infrastructure.SeatFeed;

/// <summary>
/// One committed change to some seats of one show, as written by <c>seat_feed_append</c>.
/// </summary>
/// <param name="ShowId">The show.</param>
/// <param name="Seq">Gapless per-show sequence number (1, 2, 3, …); the SSE event id.</param>
/// <param name="Json">The event as sent to SSE clients:
/// <c>{"show_id","seq","kind","state","seat_ids":[…],"occurred_at"}</c>, serialized once for every subscriber.</param>
public sealed record SeatChange(long ShowId, long Seq, string Json);

/// <summary>A live subscription to one show's seat changes; dispose to leave.</summary>
public sealed class SeatFeedSubscription : IDisposable
{
    private readonly Action<SeatFeedSubscription> leave;

    internal SeatFeedSubscription(long showId, int capacity, Action<SeatFeedSubscription> leave)
    {
        ShowId = showId;
        this.leave = leave;
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

    /// <inheritdoc />
    public void Dispose() => leave(this);
}

/// <summary>
/// The process's one LISTEN connection on <c>holdfast_seat_events</c>, fanned out in memory to every
/// SSE subscriber of this node (GUIDE §5). Every node listens to the same database, so a change
/// committed through any node reaches subscribers on all of them. After the listening connection
/// drops and comes back, subscribed shows are caught up from <c>seat_event</c>, so nothing is lost.
/// </summary>
public sealed class SeatFeedHub(NpgsqlDataSource dataSource, Caching.ReadCache cache, ILogger<SeatFeedHub> logger) : BackgroundService
{
    /// <summary>The NOTIFY channel <c>seat_feed_append</c> announces on.</summary>
    public const string ChannelName = "holdfast_seat_events";

    private const int SubscriberCapacity = 256;
    private readonly ConcurrentDictionary<long, ShowSubscribers> shows = new();
    private readonly TaskCompletionSource listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes once the first LISTEN is in place (tests wait on it before racing writes).</summary>
    public Task Listening => listening.Task;

    /// <summary>Subscribes to <paramref name="showId"/>'s changes from now on.</summary>
    public SeatFeedSubscription Subscribe(long showId)
    {
        var subscription = new SeatFeedSubscription(showId, SubscriberCapacity, Leave);
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
        command.Parameters.Add(new NpgsqlParameter<long>("show_id", showId));
        command.Parameters.Add(new NpgsqlParameter<long>("after_seq", afterSeq));
        command.Parameters.Add(new NpgsqlParameter<long>("upto_seq", uptoSeq));
        var changes = new List<SeatChange>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            changes.Add(new SeatChange(showId, reader.GetInt64(0), reader.GetString(1)));
        }

        return changes;
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var delay = TimeSpan.FromMilliseconds(200);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var connection = await dataSource.OpenConnectionAsync(stoppingToken);
                connection.Notification += (_, e) =>
                {
                    if (e.Channel == Caching.ReadCache.CatalogueChannel)
                    {
                        cache.InvalidateAll();
                    }
                    else
                    {
                        OnNotification(e.Payload);
                    }
                };
                await using (var listen = new NpgsqlCommand($"listen {ChannelName}; listen {Caching.ReadCache.CatalogueChannel}", connection))
                {
                    await listen.ExecuteNonQueryAsync(stoppingToken);
                }

                listening.TrySetResult();
                // Whatever changed while nobody listened is unknown: start the cache afresh.
                cache.InvalidateAll();
                delay = TimeSpan.FromMilliseconds(200);
                await CatchUpAsync(stoppingToken);
                while (!stoppingToken.IsCancellationRequested)
                {
                    await connection.WaitAsync(stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException or IOException)
            {
                logger.LogWarning(ex, "Seat feed listener lost its connection; reconnecting in {Delay}", delay);
                await Task.Delay(delay, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(10).Ticks));
            }
        }
    }

    private void OnNotification(string payload)
    {
        long showId;
        long seq;
        bool complete;
        try
        {
            using var document = JsonDocument.Parse(payload);
            var root = document.RootElement;
            showId = root.GetProperty("show_id").GetInt64();
            seq = root.GetProperty("seq").GetInt64();
            complete = root.GetProperty("seat_ids").ValueKind == JsonValueKind.Array;
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            logger.LogError(ex, "Ignoring malformed seat feed notification {Payload}", payload);
            return;
        }

        cache.InvalidateShow(showId);
        if (!shows.TryGetValue(showId, out var subscribers))
        {
            return;
        }

        if (complete)
        {
            Dispatch(subscribers, new SeatChange(showId, seq, payload));
        }
        else
        {
            // Too large for the payload: read it back once for all of this node's subscribers.
            _ = FetchAndDispatchAsync(subscribers, showId, seq);
        }
    }

    private async Task FetchAndDispatchAsync(ShowSubscribers subscribers, long showId, long seq)
    {
        try
        {
            foreach (var change in await ReadAsync(showId, seq - 1, seq, CancellationToken.None))
            {
                Dispatch(subscribers, change);
            }
        }
        catch (NpgsqlException ex)
        {
            logger.LogWarning(ex, "Could not read seat event {Show}/{Seq}; subscribers fill the gap on their next change", showId, seq);
        }
    }

    private static void Dispatch(ShowSubscribers subscribers, SeatChange change)
    {
        lock (subscribers)
        {
            if (change.Seq > subscribers.LastSeq)
            {
                subscribers.LastSeq = change.Seq;
            }
        }

        foreach (var subscription in subscribers.Members)
        {
            subscription.Channel.Writer.TryWrite(change);
        }
    }

    // After (re)connecting, deliver whatever committed while nobody was listening.
    private async Task CatchUpAsync(CancellationToken cancellationToken)
    {
        foreach (var (showId, subscribers) in shows)
        {
            long after;
            lock (subscribers)
            {
                after = subscribers.LastSeq;
            }

            if (after == 0)
            {
                continue;
            }

            foreach (var change in await ReadAsync(showId, after, long.MaxValue, cancellationToken))
            {
                Dispatch(subscribers, change);
            }
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

        public long LastSeq { get; set; }

        public bool Removed { get; set; }
    }

    private const string ReadEventsSql = """
        select seq,
               json_build_object('show_id', show_id, 'seq', seq, 'kind', kind, 'state', state,
                                 'seat_ids', seat_ids, 'occurred_at', occurred_at)::text
        from seat_event
        where show_id = @show_id and seq > @after_seq and seq <= @upto_seq
        order by seq
        """;
}

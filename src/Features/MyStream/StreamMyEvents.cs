using System.Collections.Concurrent;
using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Threading.Channels;
using Carter;
using Holdfast.Infrastructure;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Holdfast.Features.MyStream;

/// <summary>Settings under <c>MyStream</c> in configuration.</summary>
public sealed class MyStreamOptions
{
    /// <summary>
    /// How often, in milliseconds, each node asks <c>customer_feed</c> whether the customers it
    /// streams to have new events (default 250). This bounds the delay from commit to delivery;
    /// one query per node per interval, however many streams it serves.
    /// </summary>
    [Range(10, 60_000)]
    public int PollMilliseconds { get; set; } = 250;

    /// <summary>Seconds before a hold's expiry at which <c>hold.expiring_soon</c> is sent (default 120).</summary>
    [Range(1, 3600)]
    public int ExpiringSoonSeconds { get; set; } = 120;

    /// <summary>Seconds between heartbeat events on an idle stream (default 15), so proxies keep it open.</summary>
    [Range(1, 300)]
    public int HeartbeatSeconds { get; set; } = 15;
}

/// <summary>A live subscription to one customer's events; dispose to leave.</summary>
public sealed class CustomerFeedSubscription : IDisposable
{
    private readonly Action<CustomerFeedSubscription> leave;

    internal CustomerFeedSubscription(long userId, Action<CustomerFeedSubscription> leave)
    {
        UserId = userId;
        this.leave = leave;
    }

    /// <summary>The customer.</summary>
    public long UserId { get; }

    /// <summary>Signalled (at most one pending signal) when the customer's feed has moved on.</summary>
    internal Channel<bool> Wake { get; } = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });

    /// <inheritdoc />
    public void Dispose() => leave(this);
}

/// <summary>
/// Tells each <c>GET /me/stream</c> on this node when its customer's <c>customer_feed.last_seq</c>
/// moved. It polls, every <see cref="MyStreamOptions.PollMilliseconds"/>, the rows of the customers
/// streamed to here, in one query; the events themselves are read by each stream from
/// <c>customer_event</c>. Every node polls the same table, so a change committed through any node
/// reaches streams on all of them (docs/decisions/0024-my-stream.md).
/// </summary>
public sealed class CustomerFeedHub(NpgsqlDataSource db, IOptions<MyStreamOptions> options, ILogger<CustomerFeedHub> logger) : BackgroundService
{
    private readonly ConcurrentDictionary<long, Customer> customers = new();

    /// <summary>Subscribes to <paramref name="userId"/>'s feed from now on.</summary>
    public CustomerFeedSubscription Subscribe(long userId)
    {
        var subscription = new CustomerFeedSubscription(userId, Leave);
        while (true)
        {
            var customer = customers.GetOrAdd(userId, _ => new Customer());
            lock (customer)
            {
                // The last subscriber may have just left and taken this entry out of the map.
                if (!customer.Removed)
                {
                    customer.Members = [.. customer.Members, subscription];
                    return subscription;
                }
            }
        }
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(options.Value.PollMilliseconds));
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await timer.WaitForNextTickAsync(stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            if (customers.IsEmpty)
            {
                continue;
            }

            try
            {
                await PollAsync(stoppingToken);
            }
            catch (Exception ex) when (ex is NpgsqlException or TimeoutException && !stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning(ex, "Customer feed poll failed; trying again in {Interval} ms", options.Value.PollMilliseconds);
            }
        }
    }

    private async Task PollAsync(CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand("select app_user_id, last_seq from customer_feed where app_user_id = any(@users)");
        command.With("users", customers.Keys.ToArray());
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            if (customers.TryGetValue(reader.Get<long>("app_user_id"), out var customer) && customer.Seen(reader.Get<long>("last_seq")))
            {
                foreach (var member in customer.Members)
                {
                    member.Wake.Writer.TryWrite(true);
                }
            }
        }
    }

    private void Leave(CustomerFeedSubscription subscription)
    {
        if (!customers.TryGetValue(subscription.UserId, out var customer))
        {
            return;
        }

        lock (customer)
        {
            customer.Members = [.. customer.Members.Where(m => m != subscription)];
            if (customer.Members.Length == 0)
            {
                customer.Removed = true;
                customers.TryRemove(subscription.UserId, out _);
            }
        }
    }

    private sealed class Customer
    {
        private long lastSeq;

        public CustomerFeedSubscription[] Members { get; set; } = [];

        public bool Removed { get; set; }

        // True when the feed moved past what this node last saw.
        public bool Seen(long seq)
        {
            if (seq <= Interlocked.Read(ref lastSeq))
            {
                return false;
            }

            Interlocked.Exchange(ref lastSeq, seq);
            return true;
        }
    }
}

/// <summary>Registers <see cref="MyStreamOptions"/> and the <see cref="CustomerFeedHub"/>.</summary>
public sealed class MyStreamServices : IConfigureServices
{
    /// <inheritdoc />
    public void ConfigureServices(IServiceCollection services, IConfiguration configuration)
    {
        services.AddSettings<MyStreamOptions>("MyStream");
        services.AddSingleton<CustomerFeedHub>();
        services.AddHostedService(sp => sp.GetRequiredService<CustomerFeedHub>());
    }
}

/// <summary>
/// <c>GET /me/stream</c>: the signed-in customer's own holds and bookings, live, over Server-Sent
/// Events (WHATWG HTML §9.2). Events, each named by its kind:
/// <list type="bullet">
/// <item><c>ready</c> (id = the customer's last event number): <c>{seq}</c>, first, when the stream starts without a replay;</item>
/// <item><c>hold.held</c>, <c>hold.released</c>, <c>hold.expired</c>, <c>booking.pending_payment</c>, <c>booking.confirmed</c>,
/// <c>booking.payment_failed</c>, <c>booking.cancelled</c>, <c>booking.expired</c> (the payment deadline passed unpaid),
/// <c>booking.refunded</c> (id = per-customer sequence number): <c>{seq, kind, show_id, hold_id, booking_id, due_at, occurred_at}</c>,
/// one per committed status change, written by the database in the changing transaction (migration 0028);
/// <c>due_at</c> is the hold's expiry (<c>hold.held</c>) or the payment deadline (<c>booking.pending_payment</c>,
/// <c>booking.payment_failed</c>), UTC;</item>
/// <item><c>hold.expiring_soon</c> (no id: it is a reminder, not a change): <c>{kind, show_id, hold_id, due_at}</c>,
/// <see cref="MyStreamOptions.ExpiringSoonSeconds"/> before an unbooked hold expires, again after a reconnect;</item>
/// <item><c>heartbeat</c> (no id): <c>{}</c> when nothing happened for a while.</item>
/// </list>
/// A client reconnecting with <c>Last-Event-ID: n</c> (or <c>?last_event_id=n</c>) receives exactly the events after n.
/// </summary>
public sealed class StreamMyEvents : ICarterModule
{
    private const int ReadBatch = 1000;
    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    /// <summary>One event of my feed.</summary>
    /// <param name="Seq">Per-customer sequence number, 1, 2, 3, …; null for <c>hold.expiring_soon</c>.</param>
    /// <param name="Kind">The event's name, e.g. <c>booking.confirmed</c>.</param>
    /// <param name="ShowId">The show.</param>
    /// <param name="HoldId">The hold.</param>
    /// <param name="BookingId">The booking, for <c>booking.*</c> events.</param>
    /// <param name="DueAt">UTC: the hold's expiry or the payment deadline, where there is one.</param>
    /// <param name="OccurredAt">UTC, the database's clock when the change began; null for <c>hold.expiring_soon</c>.</param>
    public sealed record MyEvent(long? Seq, string Kind, long ShowId, long? HoldId, long? BookingId, DateTimeOffset? DueAt, DateTimeOffset? OccurredAt);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app) =>
        app.MapGet("/me/stream", HandleAsync)
            .RequireAuthorization()
            // A stream holds its request open for minutes; it must not use up the node's request cap.
            .DisableRateLimiting()
            .WithTags("Bookings")
            .WithSummary("Follow my holds and bookings live (Server-Sent Events)")
            .WithDescription("text/event-stream: ready, then one event per status change of my holds and bookings (id = my sequence number), " +
                             "hold.expiring_soon reminders and heartbeats. Resume with Last-Event-ID. 400 when last_event_id is not a number.");

    internal static async Task<Results<ServerSentEventsResult<string>, ValidationProblem>> HandleAsync(
        HttpContext http,
        NpgsqlDataSource db,
        CustomerFeedHub hub,
        IOptions<MyStreamOptions> options,
        TimeProvider time,
        IHostApplicationLifetime lifetime,
        CancellationToken cancellationToken)
    {
        if (!LastEventId.TryRead(http.Request, out var lastEventId, out var problem))
        {
            return problem!;
        }

        var userId = http.User.UserId();
        // Subscribe before reading where the feed stands, so nothing committed in between is missed.
        var subscription = hub.Subscribe(userId);
        return TypedResults.ServerSentEvents(StreamAsync(userId, lastEventId, subscription, db, options.Value, time, lifetime.ApplicationStopping, cancellationToken));
    }

    private static async IAsyncEnumerable<SseItem<string>> StreamAsync(
        long userId, long? lastEventId, CustomerFeedSubscription subscription, NpgsqlDataSource db, MyStreamOptions settings, TimeProvider time,
        CancellationToken stopping, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var _ = subscription;
        var expiring = await UnbookedHoldsAsync(db, userId, cancellationToken);
        long current;
        await using (var feed = db.CreateCommand("select coalesce((select last_seq from customer_feed where app_user_id = @user_id), 0)").With("user_id", userId))
        {
            current = (long)(await feed.ExecuteScalarAsync(cancellationToken))!;
        }

        // A replay starts after the client's last event; a new stream (or an id from the future) starts now.
        var sent = lastEventId is { } last && last <= current ? last : current;
        if (lastEventId is null || lastEventId > current)
        {
            yield return new SseItem<string>($$"""{"seq":{{sent}}}""", "ready") { EventId = sent.ToString(CultureInfo.InvariantCulture) };
        }

        var warnBefore = TimeSpan.FromSeconds(settings.ExpiringSoonSeconds);
        var heartbeat = TimeSpan.FromSeconds(settings.HeartbeatSeconds);
        var heartbeatDue = false;
        while (!cancellationToken.IsCancellationRequested)
        {
            var told = false;
            // This customer's events commit in number order, so "after sent" has no gap.
            List<MyEvent> batch;
            do
            {
                batch = await ReadAsync(db, userId, sent, cancellationToken);
                foreach (var e in batch)
                {
                    sent = e.Seq!.Value;
                    told = true;
                    if (e.Kind == "hold.held" && e.HoldId is { } held && e.DueAt is { } due)
                    {
                        expiring[held] = (e.ShowId, due);
                    }
                    else if (e.HoldId is { } ended)
                    {
                        expiring.Remove(ended);
                    }

                    yield return new SseItem<string>(JsonSerializer.Serialize(e, Json), e.Kind) { EventId = sent.ToString(CultureInfo.InvariantCulture) };
                }
            }
            while (batch.Count == ReadBatch);

            var now = time.GetUtcNow();
            foreach (var (holdId, (showId, expiresAt)) in expiring.Where(h => h.Value.ExpiresAt - warnBefore <= now).ToList())
            {
                expiring.Remove(holdId);
                if (expiresAt > now)
                {
                    told = true;
                    yield return new SseItem<string>(JsonSerializer.Serialize(new MyEvent(null, "hold.expiring_soon", showId, holdId, null, expiresAt, null), Json), "hold.expiring_soon");
                }
            }

            if (heartbeatDue && !told)
            {
                yield return new SseItem<string>("{}", "heartbeat");
            }

            var untilWarning = expiring.Count == 0 ? heartbeat : expiring.Values.Min(h => h.ExpiresAt - warnBefore) - time.GetUtcNow();
            var wait = untilWarning < heartbeat ? untilWarning : heartbeat;
            var woken = await WaitAsync(subscription, wait, stopping, cancellationToken);
            if (stopping.IsCancellationRequested)
            {
                // The node is stopping: the client reconnects with Last-Event-ID elsewhere and misses nothing.
                yield break;
            }

            heartbeatDue = !woken && wait == heartbeat;
        }
    }

    // True when woken by the feed; false when the wait ran out.
    private static async Task<bool> WaitAsync(CustomerFeedSubscription subscription, TimeSpan wait, CancellationToken stopping, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, stopping);
        timeout.CancelAfter(wait > TimeSpan.Zero ? wait : TimeSpan.Zero);
        try
        {
            return await subscription.Wake.Reader.ReadAsync(timeout.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    private static async Task<Dictionary<long, (long ShowId, DateTimeOffset ExpiresAt)>> UnbookedHoldsAsync(NpgsqlDataSource db, long userId, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand("""
            select h.hold_id, h.show_id, h.expires_at from hold h
            where h.app_user_id = @user_id and h.status = 'active'
              and not exists (select from booking b where b.hold_id = h.hold_id)
            """).With("user_id", userId);
        var holds = new Dictionary<long, (long, DateTimeOffset)>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            holds[reader.Get<long>("hold_id")] = (reader.Get<long>("show_id"), reader.Get<DateTimeOffset>("expires_at"));
        }

        return holds;
    }

    private static async Task<List<MyEvent>> ReadAsync(NpgsqlDataSource db, long userId, long afterSeq, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand("""
            select seq, kind, show_id, hold_id, booking_id, due_at, occurred_at from customer_event
            where app_user_id = @user_id and seq > @after_seq
            order by seq
            limit @limit
            """).With("user_id", userId).With("after_seq", afterSeq).With("limit", ReadBatch);
        var events = new List<MyEvent>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            events.Add(new MyEvent(reader.Get<long>("seq"), reader.Get<string>("kind"), reader.Get<long>("show_id"), reader.Get<long?>("hold_id"),
                reader.Get<long?>("booking_id"), reader.Get<DateTimeOffset?>("due_at"), reader.Get<DateTimeOffset>("occurred_at")));
        }

        return events;
    }
}

using System.ComponentModel.DataAnnotations;
using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using Carter;
using Holdfast.Features.Shows;
using Holdfast.Infrastructure;
using Holdfast.Infrastructure.Caching;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Holdfast.Infrastructure.SeatFeed;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Holdfast.Features.SeatMap;

/// <summary>Settings under <c>SeatStream</c> in configuration.</summary>
public sealed class SeatStreamOptions
{
    /// <summary>Seconds between heartbeat events on an idle stream (default 15), so proxies keep it open.</summary>
    [Range(1, 300)]
    public int HeartbeatSeconds { get; set; } = 15;

    /// <summary>A client further behind than this many events gets a fresh snapshot instead of a replay (default 1000).</summary>
    [Range(0, 1_000_000)]
    public int MaxReplayEvents { get; set; } = 1000;
}

/// <summary>Registers <see cref="SeatStreamOptions"/>.</summary>
public sealed class SeatStreamServices : IConfigureServices
{
    /// <inheritdoc />
    public void ConfigureServices(IServiceCollection services, IConfiguration configuration) =>
        services.AddSettings<SeatStreamOptions>("SeatStream");
}

/// <summary>
/// <c>GET /shows/{id}/seats/stream</c>: the live seat map over Server-Sent Events (WHATWG HTML
/// §9.2). Events:
/// <list type="bullet">
/// <item><c>snapshot</c> (id = seq): the whole seat map, as <c>GET /shows/{id}/seats</c>;</item>
/// <item><c>seats</c> (id = seq): <c>{show_id, seq, kind, state, seat_ids, occurred_at}</c>, one per committed change;</item>
/// <item><c>heartbeat</c> (no id): <c>{}</c> when nothing happened for a while.</item>
/// </list>
/// A client reconnecting with <c>Last-Event-ID: n</c> (or <c>?last_event_id=n</c>) receives exactly
/// the events after n, from <c>seat_event</c>; if n is too far behind or unknown it gets a snapshot.
/// </summary>
public sealed class StreamSeatMap : ICarterModule
{
    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app) =>
        app.MapGet("/shows/{showId:long}/seats/stream", HandleAsync)
            // A stream holds its request open for minutes; it must not use up the node's request cap.
            .DisableRateLimiting()
            .WithTags("Shows")
            .WithSummary("Follow a show's seat map live (Server-Sent Events)")
            .WithDescription("text/event-stream: snapshot, then seats events (id = per-show sequence number), heartbeats. " +
                             "Resume with Last-Event-ID. 400 when last_event_id is not a number; 404 when there is no such show.");

    internal static async Task<Results<ServerSentEventsResult<string>, ValidationProblem, ProblemHttpResult>> HandleAsync(
        long showId,
        HttpContext http,
        NpgsqlDataSource db,
        ReadReplica reads,
        SeatFeedHub hub,
        ReadCache cache,
        IOptions<SeatStreamOptions> options,
        IHostApplicationLifetime lifetime,
        CancellationToken cancellationToken)
    {
        if (!LastEventId.TryRead(http.Request, out var lastEventId, out var problem))
        {
            return problem!;
        }

        // Subscribe before reading the starting point, so nothing committed in between is missed;
        // anything seen twice is dropped by sequence number.
        var subscription = hub.Subscribe(showId);
        var current = await GetSeatMap.CurrentSeqAsync(db, showId, cancellationToken);
        if (current is null)
        {
            subscription.Dispose();
            return Problems.NotFound("Show");
        }

        // The stream starts from `current` (snapshot or replay), so the hub may too.
        subscription.StartFrom(current.Value);

        return TypedResults.ServerSentEvents(StreamAsync(showId, lastEventId, current.Value, subscription, reads, GetSeatMap.IsAnonymous(http), hub, cache, options.Value, lifetime.ApplicationStopping, cancellationToken));
    }

    private static async IAsyncEnumerable<SseItem<string>> StreamAsync(
        long showId, long? lastEventId, long current, SeatFeedSubscription subscription, ReadReplica reads, bool anonymous, SeatFeedHub hub, ReadCache cache,
        SeatStreamOptions settings, CancellationToken stopping, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var _ = subscription;
        long sent;
        if (lastEventId is { } last && last <= current && current - last <= settings.MaxReplayEvents)
        {
            foreach (var change in await hub.ReadAsync(showId, last, current, cancellationToken))
            {
                yield return Item(change);
            }

            sent = current;
        }
        else
        {
            var snapshot = await GetSeatMap.ReadSnapshotAsync(reads, anonymous, cache, showId, current, cancellationToken);
            sent = SeqOf(snapshot.Body);
            yield return new SseItem<string>(System.Text.Encoding.UTF8.GetString(snapshot.Body), "snapshot") { EventId = sent.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        }

        var heartbeat = TimeSpan.FromSeconds(settings.HeartbeatSeconds);
        while (!cancellationToken.IsCancellationRequested)
        {
            var change = await NextAsync(subscription, heartbeat, stopping, cancellationToken);
            if (stopping.IsCancellationRequested)
            {
                // The node is stopping: end the stream now rather than hold shutdown until the host
                // gives up. The client reconnects with Last-Event-ID (to another node behind the
                // balancer) and misses nothing.
                yield break;
            }

            if (change is null)
            {
                yield return new SseItem<string>("{}", "heartbeat");
                continue;
            }

            if (change.Seq <= sent)
            {
                continue;
            }

            if (change.Seq > sent + 1)
            {
                // This reader fell behind (its buffer dropped changes): fill the gap from the table.
                foreach (var missed in await hub.ReadAsync(showId, sent, change.Seq - 1, cancellationToken))
                {
                    yield return Item(missed);
                }
            }

            yield return Item(change);
            sent = change.Seq;
        }
    }

    // The next change; null when the heartbeat is due or the node is stopping.
    private static async Task<SeatChange?> NextAsync(SeatFeedSubscription subscription, TimeSpan heartbeat, CancellationToken stopping, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, stopping);
        timeout.CancelAfter(heartbeat);
        try
        {
            return await subscription.Reader.ReadAsync(timeout.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return null;
        }
    }

    private static SseItem<string> Item(SeatChange change) =>
        new(change.Json, "seats") { EventId = change.Seq.ToString(System.Globalization.CultureInfo.InvariantCulture) };

    // The snapshot's top-level "seq", read without parsing the seats that follow it.
    private static long SeqOf(byte[] snapshot)
    {
        var reader = new System.Text.Json.Utf8JsonReader(snapshot);
        reader.Read();
        while (reader.Read() && reader.CurrentDepth == 1)
        {
            if (reader.TokenType == System.Text.Json.JsonTokenType.PropertyName && reader.ValueTextEquals("seq"u8))
            {
                reader.Read();
                return reader.GetInt64();
            }

            reader.Skip();
        }

        throw new InvalidOperationException("Seat map snapshot without seq.");
    }
}

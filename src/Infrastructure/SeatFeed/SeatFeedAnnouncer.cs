using System.Text;
using System.Threading.Channels;
using Holdfast.Infrastructure.Database;
using Npgsql;

namespace Holdfast.Infrastructure.SeatFeed;

/// <summary>
/// Tells every node which shows' seat feeds changed, after the transactions that changed them
/// committed: one <c>NOTIFY holdfast_seat_events</c> whose payload is a JSON array of show ids,
/// e.g. <c>[1204,88]</c>, for all the changes this node committed since its last notification.
/// </summary>
/// <remarks>
/// Before migration 0020, <c>seat_feed_append</c> notified inside every seat-changing transaction.
/// PostgreSQL serializes the commits of notifying transactions under one lock, and every listener
/// wakes for each notification; through the API that cost about 15 % of hold throughput on two
/// cores. A notification is only a wake-up: the events are in <c>seat_event</c>, numbered without
/// gaps, and <see cref="SeatFeedHub"/> reads them from there. One that never comes (the writer
/// died after its commit) delays delivery until the hub's poll, and loses nothing
/// (docs/decisions/0009-seat-feed-announced-after-commit.md).
/// </remarks>
public sealed class SeatFeedAnnouncer(NpgsqlDataSource dataSource, ILogger<SeatFeedAnnouncer> logger) : BackgroundService
{
    // Show ids of up to 19 digits and a comma each: well under NOTIFY's 8,000-byte payload.
    private const int MaxShowsPerNotification = 300;

    private readonly Channel<long> changed = Channel.CreateUnbounded<long>(new UnboundedChannelOptions { SingleReader = true });

    /// <summary>
    /// Announces that <paramref name="showId"/>'s seat feed changed. Call it after the transaction
    /// that called <c>seat_feed_append</c> committed; it returns at once and never throws.
    /// </summary>
    public void Changed(long showId) => changed.Writer.TryWrite(showId);

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var shows = new HashSet<long>();
        try
        {
            // No timer: whatever piles up while one notification is on its way goes in the next,
            // so a quiet node announces at once and a busy one in batches.
            while (await changed.Reader.WaitToReadAsync(stoppingToken))
            {
                shows.Clear();
                while (shows.Count < MaxShowsPerNotification && changed.Reader.TryRead(out var showId))
                {
                    shows.Add(showId);
                }

                try
                {
                    await NotifyAsync(shows, stoppingToken);
                }
                catch (Exception ex) when (ex is NpgsqlException or TimeoutException)
                {
                    // The listeners' poll of seat_feed delivers these changes without us.
                    logger.LogWarning(ex, "Could not announce seat changes of {Count} shows; subscribers get them from the poll", shows.Count);
                    await Task.Delay(TimeSpan.FromMilliseconds(200), stoppingToken);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task NotifyAsync(HashSet<long> shows, CancellationToken cancellationToken)
    {
        var payload = new StringBuilder("[");
        foreach (var showId in shows)
        {
            payload.Append(payload.Length > 1 ? "," : "").Append(showId);
        }

        await using var command = dataSource.CreateCommand("select pg_notify(@channel, @payload)");
        command.With("channel", SeatFeedHub.ChannelName);
        command.With("payload", payload.Append(']').ToString());
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}

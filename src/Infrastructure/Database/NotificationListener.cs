using Npgsql;

namespace Holdfast.Infrastructure.Database;

/// <summary>
/// One dedicated connection that <c>LISTEN</c>s on some channels until the app stops, reconnecting
/// after a lost connection with backoff (200 ms, doubling to 10 s). The seat feed, the session
/// cache and the job worker each keep one; what they do on a notification, once listening, and on
/// a loss is theirs (a notification sent while nobody listened is gone, so each catches up in
/// <c>onListening</c>). After a failover the reconnect reaches the new primary (NOTIFY is not
/// replicated: a standby's LISTEN hears nothing), because the address leads there and the pool
/// is emptied on the loss.
/// </summary>
public static class NotificationListener
{
    /// <summary>Listens until <paramref name="stoppingToken"/> is cancelled; never throws for a lost connection.</summary>
    /// <param name="dataSource">Where to open the listening connection.</param>
    /// <param name="channels">Channel names (identifiers, never user input).</param>
    /// <param name="onNotification">Called on the connection's reader for each notification; keep it short.</param>
    /// <param name="onListening">Called each time LISTEN is in place, the first time and after every reconnect.</param>
    /// <param name="onLost">Called when the connection is lost, before the backoff wait.</param>
    /// <param name="what">Names the listener in the warning logged on a loss.</param>
    /// <param name="logger">Where that warning goes.</param>
    /// <param name="time">Drives the backoff wait.</param>
    /// <param name="stoppingToken">Ends the loop.</param>
    public static async Task RunAsync(
        NpgsqlDataSource dataSource, IReadOnlyList<string> channels, Action<NpgsqlNotificationEventArgs> onNotification, Action onListening,
        Action onLost, string what, ILogger logger, TimeProvider time, CancellationToken stoppingToken)
    {
        var delay = TimeSpan.FromMilliseconds(200);
        var listen = string.Join("; ", channels.Select(c => $"listen {c}"));
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var connection = await dataSource.OpenConnectionAsync(stoppingToken);
                connection.Notification += (_, e) => onNotification(e);
                await using (var command = new NpgsqlCommand(listen, connection))
                {
                    await command.ExecuteNonQueryAsync(stoppingToken);
                }

                onListening();
                delay = TimeSpan.FromMilliseconds(200);
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
                if (Http.DatabaseOutage.LeadsToAnotherServer(ex))
                {
                    // The server went away (or is a standby now): reconnect through a fresh
                    // connection, not a pooled one to the server that is gone.
                    Http.DatabaseOutage.ForgetPooledConnections(dataSource);
                }

                onLost();
                logger.LogWarning(ex, "{Listener} lost its connection; reconnecting in {Delay}", what, delay);
                await Task.Delay(delay, time, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(10).Ticks));
            }
        }
    }
}

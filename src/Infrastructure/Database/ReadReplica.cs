using System.ComponentModel.DataAnnotations;
using Holdfast.Infrastructure.Http;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Holdfast.Infrastructure.Database;

/// <summary>Settings under <c>Database:Reads</c> in configuration.</summary>
public sealed class ReadReplicaOptions
{
    /// <summary>
    /// Longest wait, in milliseconds (default 500), for a replica to replay the primary's WAL up to
    /// where the primary stood when the read began; past it the read goes to the primary.
    /// </summary>
    [Range(0, 60_000)]
    public int MaxWaitMilliseconds { get; set; } = 500;
}

/// <summary>
/// Where reads that may be served by a replica go: search, show details and anonymous seat maps
/// (docs/decisions/0030-high-availability.md). With <c>ConnectionStrings:HoldfastReads</c> set
/// (e.g. HAProxy's replicas port, or an Npgsql multi-host string with
/// <c>Target Session Attributes=prefer-standby</c>) such a read first asks the primary for its
/// WAL position (<c>pg_current_wal_lsn()</c>, no table touched), then runs on a replica connection
/// once that replica has replayed up to it — so it sees every commit that preceded the read,
/// never an older state, and a cache entry built from it is as fresh as one built on the primary.
/// A replica that is unreachable, does not catch up within
/// <see cref="ReadReplicaOptions.MaxWaitMilliseconds"/>, or cancels the read for a conflict with
/// recovery (40001, 40P01) costs that wait and the read goes to the primary. Without the setting
/// every read goes to the primary, as before.
/// </summary>
public sealed class ReadReplica : IAsyncDisposable
{
    /// <summary>Name of the optional connection string for reads (<c>ConnectionStrings:HoldfastReads</c>).</summary>
    public const string ConnectionStringName = "HoldfastReads";

    private readonly NpgsqlDataSource primary;
    private readonly NpgsqlDataSource? replicas;
    private readonly IOptions<ReadReplicaOptions> options;
    private readonly TimeProvider time;
    private readonly ILogger<ReadReplica> logger;
    private long onReplica;
    private long onPrimary;

    /// <summary>Uses <paramref name="replicas"/> for replica reads, or only <paramref name="primary"/> when it is null.</summary>
    public ReadReplica(NpgsqlDataSource primary, NpgsqlDataSource? replicas, IOptions<ReadReplicaOptions> options, TimeProvider time, ILogger<ReadReplica> logger)
    {
        this.primary = primary;
        this.replicas = replicas;
        this.options = options;
        this.time = time;
        this.logger = logger;
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => replicas?.DisposeAsync() ?? ValueTask.CompletedTask;

    /// <summary>True when a reads connection string is configured.</summary>
    public bool Configured => replicas is not null;

    /// <summary>Reads served by the reads connection, and reads that went to the primary (none configured, lag, or failure), since start.</summary>
    public (long OnReplica, long OnPrimary) Stats => (Interlocked.Read(ref onReplica), Interlocked.Read(ref onPrimary));

    /// <summary>
    /// Runs <paramref name="read"/> on an open connection: a caught-up replica's when
    /// <paramref name="mayUseReplica"/> and one is configured, else the primary's. Throws what the
    /// primary's read throws (an unreachable primary is an outage, answered 503).
    /// </summary>
    /// <param name="mayUseReplica">False for reads that must see the primary (an authenticated viewer's).</param>
    /// <param name="read">The read; it gets an open connection and must not write.</param>
    /// <param name="cancellationToken">Stops the read.</param>
    public async Task<T> ReadAsync<T>(bool mayUseReplica, Func<NpgsqlConnection, CancellationToken, Task<T>> read, CancellationToken cancellationToken)
    {
        if (mayUseReplica && replicas is not null)
        {
            try
            {
                await using var connection = await CaughtUpReplicaAsync(replicas, cancellationToken);
                if (connection is not null)
                {
                    var result = await read(connection, cancellationToken);
                    Interlocked.Increment(ref onReplica);
                    return result;
                }
            }
            catch (Exception ex) when (DatabaseOutage.IsUnavailable(ex) && !cancellationToken.IsCancellationRequested)
            {
                if (DatabaseOutage.LeadsToAnotherServer(ex))
                {
                    DatabaseOutage.ForgetPooledConnections(replicas);
                }

                logger.LogWarning(ex, "A replica read failed; reading from the primary");
            }
            catch (PostgresException ex) when (ex.SqlState is PostgresErrorCodes.SerializationFailure or PostgresErrorCodes.DeadlockDetected)
            {
                // A standby cancels a query that conflicts with the WAL it replays (a row version
                // vacuumed on the primary, a lock): the primary has no such conflict.
                logger.LogInformation(ex, "A replica read conflicted with recovery; reading from the primary");
            }
        }

        Interlocked.Increment(ref onPrimary);
        await using var onThePrimary = await primary.OpenConnectionAsync(cancellationToken);
        return await read(onThePrimary, cancellationToken);
    }

    // The primary's WAL position now, then a reads connection whose server has replayed that far
    // (a primary reached through the reads address — no replica healthy — has everything); null
    // when it does not get there in time.
    private async Task<NpgsqlConnection?> CaughtUpReplicaAsync(NpgsqlDataSource reads, CancellationToken cancellationToken)
    {
        string target;
        await using (var command = primary.CreateCommand(PrimaryPositionSql))
        {
            target = (string)(await command.ExecuteScalarAsync(cancellationToken))!;
        }

        var connection = await reads.OpenConnectionAsync(cancellationToken);
        try
        {
            var deadline = time.GetUtcNow().AddMilliseconds(options.Value.MaxWaitMilliseconds);
            var pause = TimeSpan.FromMilliseconds(2);
            await using var check = new NpgsqlCommand(CaughtUpSql, connection);
            check.Parameters.AddWithValue("target", target);
            while (true)
            {
                if ((bool)(await check.ExecuteScalarAsync(cancellationToken))!)
                {
                    return connection;
                }

                if (time.GetUtcNow() >= deadline)
                {
                    await connection.DisposeAsync();
                    return null;
                }

                await Task.Delay(pause, time, cancellationToken);
                pause = TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, TimeSpan.FromMilliseconds(50).Ticks));
            }
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    // Text, so the parameter needs no pg_lsn type mapping; cast back on the replica.
    private const string PrimaryPositionSql = "select pg_current_wal_lsn()::text";

    // A standby compares what it has replayed; a server not in recovery (a separate database, or
    // the primary when the reads address falls back to it) has every commit it will ever show.
    private const string CaughtUpSql = """
        select not pg_is_in_recovery() or coalesce(pg_last_wal_replay_lsn() >= @target::pg_lsn, false)
        """;
}

/// <summary>Registers <see cref="ReadReplica"/>.</summary>
public static class ReadReplicaSetup
{
    /// <summary>
    /// Adds <see cref="ReadReplica"/>, with a second data source when
    /// <c>ConnectionStrings:HoldfastReads</c> is set (the same builder settings as the primary's).
    /// </summary>
    public static IServiceCollection AddHoldfastReadReplica(this IServiceCollection services)
    {
        services.AddSettings<ReadReplicaOptions>("Database:Reads");
        services.AddSingleton(sp =>
        {
            var configuration = sp.GetRequiredService<IConfiguration>();
            var reads = configuration.GetConnectionString(ReadReplica.ConnectionStringName);
            var source = string.IsNullOrWhiteSpace(reads)
                ? null
                : DatabaseSetup.CreateDataSource(reads, sp.GetService<ILoggerFactory>());
            return new ReadReplica(
                sp.GetRequiredService<NpgsqlDataSource>(), source, sp.GetRequiredService<IOptions<ReadReplicaOptions>>(),
                sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<ReadReplica>>());
        });
        return services;
    }
}

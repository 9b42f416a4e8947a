using System.Net.Sockets;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;

namespace Holdfast.Infrastructure.Http;

/// <summary>
/// Knows whether this node can reach PostgreSQL. The first request that fails for want of the
/// database opens an outage: it is logged once (not once per request), answered 503, and a probe
/// (<c>select 1</c> every second) closes it and logs how long it lasted.
/// </summary>
public sealed class DatabaseOutage(NpgsqlDataSource dataSource, TimeProvider time, ILogger<DatabaseOutage> logger)
{
    private readonly Lock gate = new();
    private DateTimeOffset? since;
    private int outages;

    /// <summary>How long a client should wait before retrying while the database is unreachable (2 s).</summary>
    public static readonly TimeSpan RetryAfter = TimeSpan.FromSeconds(2);

    /// <summary>Outages this node has seen since it started (each logged once).</summary>
    public int Count => Volatile.Read(ref outages);

    /// <summary>True while an outage is open.</summary>
    public bool IsOpen
    {
        get
        {
            lock (gate)
            {
                return since is not null;
            }
        }
    }

    /// <summary>
    /// True when <paramref name="exception"/> (or an inner one) means the database cannot be reached
    /// or will not take work now: a socket or timeout failure, the pool exhausted, or PostgreSQL's
    /// connection-exception class 08, shutdown 57P01–57P03, or insufficient resources class 53 — or
    /// 25006 (read-only transaction): the server reached is a standby, as for a moment after a
    /// failover when a connection still reaches the old primary, demoted, or a replica
    /// (docs/decisions/0030-high-availability.md). Serialization failures and deadlocks are not outages. A socket failure counts only inside an
    /// <see cref="NpgsqlException"/> (Npgsql wraps its own): one from an SMTP or HTTP client is that
    /// server's failure, and the job engine retries an outage at once, without backoff, so an
    /// unreachable mail server taken for one burned an email job's attempts in seconds.
    /// </summary>
    public static bool IsUnavailable(Exception? exception) => exception switch
    {
        null => false,
        PostgresException pg => pg.SqlState.StartsWith("08", StringComparison.Ordinal)
            || pg.SqlState.StartsWith("53", StringComparison.Ordinal)
            || pg.SqlState is PostgresErrorCodes.AdminShutdown or PostgresErrorCodes.CrashShutdown or PostgresErrorCodes.CannotConnectNow
                or PostgresErrorCodes.ReadOnlySqlTransaction,
        NpgsqlException npgsql => npgsql.IsTransient || npgsql.InnerException is SocketException or IOException or TimeoutException,
        _ => IsUnavailable(exception.InnerException),
    };

    /// <summary>
    /// Closes the pool's idle connections and keeps those in use from returning to it
    /// (<see cref="NpgsqlDataSource.Clear"/>). After a failover every pooled connection leads to the
    /// old primary — dead, or demoted to a standby that refuses writes with 25006 — and each would
    /// fail one more request; cleared, the next open reaches whichever server the address leads to
    /// now (the new primary behind HAProxy). Npgsql clears by itself on a broken connection, not on
    /// 25006, nor for a data source the failure was not seen on.
    /// </summary>
    public static void ForgetPooledConnections(NpgsqlDataSource dataSource) => dataSource.Clear();

    /// <summary>
    /// True when <paramref name="exception"/> says the pooled connections lead to a server that is
    /// gone or no longer the primary: a socket or I/O failure inside Npgsql, connection-exception
    /// class 08, shutdown 57P01–57P03, or 25006 (a standby). Not an exhausted pool, a timeout or
    /// class 53 (too many connections): those mean the server is busy, and emptying the pool then
    /// would make every busy connection reconnect just when the server is overloaded.
    /// </summary>
    public static bool LeadsToAnotherServer(Exception? exception) => exception switch
    {
        null => false,
        PostgresException pg => pg.SqlState.StartsWith("08", StringComparison.Ordinal)
            || pg.SqlState is PostgresErrorCodes.AdminShutdown or PostgresErrorCodes.CrashShutdown or PostgresErrorCodes.CannotConnectNow
                or PostgresErrorCodes.ReadOnlySqlTransaction,
        NpgsqlException npgsql => npgsql.InnerException is SocketException or IOException || LeadsToAnotherServer(npgsql.InnerException),
        _ => LeadsToAnotherServer(exception.InnerException),
    };

    /// <summary>One round trip (<c>select 1</c>): what the outage probe and readiness both ask.</summary>
    public static async Task PingAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("select 1");
        await command.ExecuteScalarAsync(cancellationToken);
    }

    /// <summary>
    /// Records a failure caused by the database being unavailable; logs and starts the probe on the
    /// first. A failure that <see cref="LeadsToAnotherServer"/> also empties the connection pool
    /// (see <see cref="ForgetPooledConnections"/>).
    /// </summary>
    public void Report(Exception exception)
    {
        if (LeadsToAnotherServer(exception))
        {
            ForgetPooledConnections(dataSource);
        }

        lock (gate)
        {
            if (since is not null)
            {
                return;
            }

            since = time.GetUtcNow();
            outages++;
        }

        logger.LogError(exception, "Database unavailable: answering 503 until it is back");
        _ = ProbeAsync();
    }

    private async Task ProbeAsync()
    {
        while (true)
        {
            await Task.Delay(TimeSpan.FromSeconds(1), time);
            try
            {
                await PingAsync(dataSource, CancellationToken.None);
            }
            catch (Exception ex) when (IsUnavailable(ex))
            {
                continue;
            }

            DateTimeOffset started;
            lock (gate)
            {
                started = since!.Value;
                since = null;
            }

            logger.LogWarning("Database available again after {Seconds:F1} s", (time.GetUtcNow() - started).TotalSeconds);
            return;
        }
    }
}

/// <summary>
/// Answers a request that failed because the database is unreachable with 503 problem details and
/// <c>Retry-After</c> (RFC 9110 §15.6.4, §10.2.3) instead of a 500, and reports the outage once.
/// </summary>
internal sealed class DatabaseUnavailableExceptionHandler(IProblemDetailsService problemDetails, DatabaseOutage outage) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        if (!DatabaseOutage.IsUnavailable(exception))
        {
            return false;
        }

        outage.Report(exception);
        httpContext.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        var seconds = Problems.SetRetryAfter(httpContext.Response, DatabaseOutage.RetryAfter);
        return await problemDetails.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = httpContext,
            ProblemDetails = new Microsoft.AspNetCore.Mvc.ProblemDetails
            {
                Status = StatusCodes.Status503ServiceUnavailable,
                Title = "The service is temporarily unavailable.",
                Detail = $"Its database cannot be reached. Retry after {seconds} s.",
            },
            Exception = exception,
        });
    }
}

/// <summary>Readiness: the database answers <c>select 1</c> within the check's time.</summary>
internal sealed class DatabaseHealthCheck(NpgsqlDataSource dataSource) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await DatabaseOutage.PingAsync(dataSource, cancellationToken);
            return HealthCheckResult.Healthy();
        }
        catch (Exception ex) when (DatabaseOutage.IsUnavailable(ex))
        {
            return HealthCheckResult.Unhealthy("The database cannot be reached.");
        }
    }
}

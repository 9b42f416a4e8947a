using System.Net.Sockets;
using Holdfast.Infrastructure.Http;
using Npgsql;

namespace Holdfast.Tests.Infrastructure;

/// <summary>
/// What counts as the database being away. The job engine retries such a failure at once, without
/// backoff, so another server's socket error taken for one burns a job's attempts in seconds.
/// </summary>
public sealed class OutageClassificationTests
{
    [Fact]
    public void A_socket_failure_inside_Npgsql_is_the_database_being_away() =>
        Assert.True(DatabaseOutage.IsUnavailable(new NpgsqlException("Failed to connect", new SocketException((int)SocketError.ConnectionRefused))));

    [Fact]
    public void A_socket_failure_of_another_server_is_not() =>
        Assert.False(DatabaseOutage.IsUnavailable(new SocketException((int)SocketError.ConnectionRefused)));

    [Fact]
    public void An_unreachable_HTTP_service_is_not() =>
        Assert.False(DatabaseOutage.IsUnavailable(new HttpRequestException("Connection refused", new SocketException((int)SocketError.ConnectionRefused))));

    [Fact]
    public void An_exhausted_pool_is_an_outage_but_does_not_empty_the_pool()
    {
        var exhausted = new NpgsqlException("The connection pool has been exhausted", new TimeoutException());
        Assert.True(DatabaseOutage.IsUnavailable(exhausted));
        Assert.False(DatabaseOutage.LeadsToAnotherServer(exhausted));
    }

    [Fact]
    public void A_standby_or_a_lost_socket_empties_the_pool()
    {
        Assert.True(DatabaseOutage.LeadsToAnotherServer(new PostgresException("read-only", "ERROR", "ERROR", PostgresErrorCodes.ReadOnlySqlTransaction)));
        Assert.True(DatabaseOutage.LeadsToAnotherServer(new NpgsqlException("Exception while reading", new IOException("reset"))));
        Assert.False(DatabaseOutage.LeadsToAnotherServer(new PostgresException("too many", "FATAL", "FATAL", PostgresErrorCodes.TooManyConnections)));
    }
}

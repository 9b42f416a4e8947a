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
}

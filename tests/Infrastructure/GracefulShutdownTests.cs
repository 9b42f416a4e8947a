using System.Net;
using System.Net.Sockets;
using System.Text;
using Holdfast.Infrastructure.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Holdfast.Tests.Infrastructure;

/// <summary>A node told to stop drains before it closes its connections (issue 11, finding 10).</summary>
public sealed class GracefulShutdownTests
{
    private const string Path = "/push/vapid-public-key";

    [Fact]
    public async Task A_node_sent_SIGTERM_answers_every_request_in_full_with_Connection_close_until_its_drain_ends()
    {
        var database = await PostgresServer.Instance.CreateDatabaseAsync();
        var port = PostgresServer.FreePort();
        using var node = NodeProcess.Start(database, port, new Dictionary<string, string?> { ["Server:DrainSeconds"] = "5" });
        using (var probe = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") })
        {
            await NodeProcess.WaitReadyAsync(probe, node);
        }

        // A kept-alive connection, as nginx holds to each node.
        using var kept = await RawConnection.OpenAsync(port);
        var before = await kept.GetAsync(Path);
        Assert.Equal((HttpStatusCode.OK, false), (before.Status, before.ConnectionClose));

        NodeProcess.Terminate(node);

        // The node drains: a new connection is answered, and told to close.
        await Eventually.EqualAsync(true, async () =>
        {
            using var probe = await RawConnection.OpenAsync(port);
            var response = await probe.GetAsync(Path);
            Assert.Equal(HttpStatusCode.OK, response.Status);
            return response.ConnectionClose;
        }, TimeSpan.FromSeconds(3));

        // A request on the connection kept alive from before gets its whole answer, then the node closes it.
        var during = await kept.GetAsync(Path);
        Assert.Equal((HttpStatusCode.OK, true, before.Body), (during.Status, during.ConnectionClose, during.Body));
        Assert.True(await kept.ClosedByPeerAsync(), "the node kept the connection open after Connection: close");

        // New connections too, while the drain lasts.
        for (var i = 0; i < 5; i++)
        {
            using var fresh = await RawConnection.OpenAsync(port);
            var response = await fresh.GetAsync(Path);
            Assert.Equal((HttpStatusCode.OK, true, before.Body), (response.Status, response.ConnectionClose, response.Body));
        }

        // Then the node stops on its own, cleanly.
        Assert.True(node.WaitForExit(TimeSpan.FromSeconds(30)), "the node did not stop after its drain");
        Assert.Equal(0, node.ExitCode);
    }

    [Fact]
    public async Task The_connection_cap_is_taken_from_Server_MaxConcurrentConnections()
    {
        await using var app = await TestApp.StartAsync(PostgresServer.Instance, new Dictionary<string, string?> { ["Server:MaxConcurrentConnections"] = "123" });
        Assert.Equal(123, app.Services.GetRequiredService<IOptions<KestrelServerOptions>>().Value.Limits.MaxConcurrentConnections);
        Assert.False(app.Services.GetRequiredService<GracefulDrain>().IsDraining);
    }

    /// <summary>One HTTP/1.1 connection, spoken by hand, so nothing retries or reconnects behind the test's back.</summary>
    private sealed class RawConnection : IDisposable
    {
        private readonly TcpClient tcp;
        private readonly NetworkStream stream;
        private readonly byte[] buffer = new byte[16384];
        private readonly CancellationTokenSource deadline = new(TimeSpan.FromSeconds(20));
        private int start;
        private int end;

        private RawConnection(TcpClient tcp)
        {
            this.tcp = tcp;
            stream = tcp.GetStream();
        }

        public static async Task<RawConnection> OpenAsync(int port)
        {
            var tcp = new TcpClient();
            await tcp.ConnectAsync(IPAddress.Loopback, port);
            return new RawConnection(tcp);
        }

        /// <summary>Sends a GET and reads the whole response (Content-Length or chunked); throws if the connection ends first.</summary>
        public async Task<(HttpStatusCode Status, bool ConnectionClose, string Body)> GetAsync(string path)
        {
            await stream.WriteAsync(Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"), deadline.Token);
            var statusLine = await ReadLineAsync();
            var status = (HttpStatusCode)int.Parse(statusLine.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
            var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            for (var line = await ReadLineAsync(); line.Length > 0; line = await ReadLineAsync())
            {
                var colon = line.IndexOf(':', StringComparison.Ordinal);
                headers[line[..colon]] = line[(colon + 1)..].Trim();
            }

            var body = new MemoryStream();
            if (headers.TryGetValue("Content-Length", out var length))
            {
                await ReadExactlyAsync(body, int.Parse(length, System.Globalization.CultureInfo.InvariantCulture));
            }
            else if (headers.TryGetValue("Transfer-Encoding", out var encoding) && encoding.Contains("chunked", StringComparison.OrdinalIgnoreCase))
            {
                for (var size = ChunkSize(await ReadLineAsync()); size > 0; size = ChunkSize(await ReadLineAsync()))
                {
                    await ReadExactlyAsync(body, size);
                    Assert.Equal("", await ReadLineAsync());
                }

                Assert.Equal("", await ReadLineAsync());
            }

            var close = headers.TryGetValue("Connection", out var connection) && connection.Contains("close", StringComparison.OrdinalIgnoreCase);
            return (status, close, Encoding.UTF8.GetString(body.ToArray()));
        }

        /// <summary>True when the peer closed the connection (a read ends), within ten seconds.</summary>
        public async Task<bool> ClosedByPeerAsync()
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            return end == start && await stream.ReadAsync(buffer, timeout.Token) == 0;
        }

        public void Dispose()
        {
            tcp.Dispose();
            deadline.Dispose();
        }

        private static int ChunkSize(string line) => int.Parse(line.Split(';')[0], System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture);

        private async Task<bool> FillAsync()
        {
            if (start == end)
            {
                start = 0;
                end = await stream.ReadAsync(buffer, deadline.Token);
            }

            return end > start;
        }

        private async Task<string> ReadLineAsync()
        {
            var line = new StringBuilder();
            while (true)
            {
                if (!await FillAsync())
                {
                    throw new IOException($"The connection ended in the middle of a response (after \"{line}\").");
                }

                var b = (char)buffer[start++];
                if (b == '\n')
                {
                    return line.ToString().TrimEnd('\r');
                }

                line.Append(b);
            }
        }

        private async Task ReadExactlyAsync(MemoryStream into, int count)
        {
            while (count > 0)
            {
                if (!await FillAsync())
                {
                    throw new IOException("The connection ended in the middle of a response body.");
                }

                var take = Math.Min(count, end - start);
                into.Write(buffer, start, take);
                start += take;
                count -= take;
            }
        }
    }
}

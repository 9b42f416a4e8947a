using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Holdfast.Tests.Infrastructure;

/// <summary>
/// A loopback TCP proxy in front of PostgreSQL (or any server) that a test can cut and restore, to
/// stage a database outage for one node without touching the server other tests share. While cut,
/// open connections are reset and new ones are accepted and reset at once. The port stays bound
/// throughout: released, another test's "free port" could take it and forward to a live server.
/// </summary>
public sealed class TcpProxy : IAsyncDisposable
{
    private readonly IPEndPoint target;
    private readonly ConcurrentDictionary<Socket, byte> open = new();
    private readonly CancellationTokenSource stop = new();
    private readonly TcpListener listener;
    private readonly Task accepting;
    private volatile bool cut;

    private TcpProxy(IPEndPoint target, int port)
    {
        this.target = target;
        Port = port;
        listener = new TcpListener(IPAddress.Loopback, port);
        listener.Start();
        accepting = AcceptAsync();
    }

    /// <summary>The loopback port clients connect to.</summary>
    public int Port { get; }

    /// <summary>Starts a proxy to <paramref name="host"/>:<paramref name="port"/> on a free loopback port.</summary>
    public static TcpProxy Start(string host, int port)
    {
        var address = host is "localhost" ? IPAddress.Loopback : IPAddress.Parse(host);
        return new TcpProxy(new IPEndPoint(address, port), PostgresServer.FreePort());
    }

    /// <summary>A copy of <paramref name="connectionString"/> that goes through a new proxy.</summary>
    public static (TcpProxy Proxy, string ConnectionString) For(string connectionString)
    {
        var builder = new Npgsql.NpgsqlConnectionStringBuilder(connectionString);
        var proxy = Start(builder.Host!, builder.Port);
        builder.Host = "127.0.0.1";
        builder.Port = proxy.Port;
        return (proxy, builder.ConnectionString);
    }

    /// <summary>Resets every open connection, and each new one, until <see cref="Restore"/>.</summary>
    public void Cut()
    {
        cut = true;
        foreach (var socket in open.Keys)
        {
            Close(socket);
        }
    }

    /// <summary>Forwards connections again.</summary>
    public void Restore() => cut = false;

    private async Task AcceptAsync()
    {
        while (!stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.AcceptSocketAsync(stop.Token);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException or InvalidOperationException)
            {
                return;
            }

            if (cut)
            {
                open[client] = 0;
                Close(client);
                continue;
            }

            _ = PipeAsync(client);
        }
    }

    private async Task PipeAsync(Socket client)
    {
        var server = new Socket(SocketType.Stream, ProtocolType.Tcp);
        open[client] = 0;
        open[server] = 0;
        try
        {
            await server.ConnectAsync(target, stop.Token);
            await Task.WhenAny(CopyAsync(client, server), CopyAsync(server, client));
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // The connection ends; the client sees a reset.
        }
        finally
        {
            Close(client);
            Close(server);
        }
    }

    private async Task CopyAsync(Socket from, Socket to)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            int read;
            while ((read = await from.ReceiveAsync(buffer, SocketFlags.None, stop.Token)) > 0)
            {
                await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, stop.Token);
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // Either side closed.
        }
    }

    private void Close(Socket socket)
    {
        if (open.TryRemove(socket, out _))
        {
            try
            {
                socket.LingerState = new LingerOption(true, 0); // RST, as a crashed server would
                socket.Close();
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                // Already gone.
            }
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        Cut();
        await stop.CancelAsync();
        listener.Stop();
        await accepting;
        stop.Dispose();
    }
}

using System.ComponentModel.DataAnnotations;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;

namespace Holdfast.Infrastructure.Http;

/// <summary>Settings under <c>Server</c> in configuration.</summary>
public sealed class ServerOptions
{
    /// <summary>
    /// Most connections Kestrel holds open at once on this node (default 10000; empty for no limit).
    /// A connection beyond it is closed at once without an answer, which a proxy such as nginx takes
    /// as an error and retries on another node. Open seat-map streams count.
    /// </summary>
    [Range(1, long.MaxValue, ErrorMessage = "{0} must be at least 1 (or empty for no limit).")]
    public long? MaxConcurrentConnections { get; set; } = 10_000;

    /// <summary>
    /// Seconds a stopping node keeps answering before Kestrel stops (default 5; 0 stops at once).
    /// Meanwhile <see cref="GracefulDrain.IsDraining"/> is true and every HTTP/1.x response carries
    /// <c>Connection: close</c>, so clients and proxies move their kept-alive connections elsewhere
    /// instead of sending a request on one the node is about to close. The orchestrator's grace
    /// period (docker's is 10 s) must cover it and the longest request.
    /// </summary>
    [Range(0, 300)]
    public int DrainSeconds { get; set; } = 5;
}

/// <summary>
/// The graceful half of stopping a node (on SIGTERM). Before any hosted service stops, it marks the
/// node draining and waits <see cref="ServerOptions.DrainSeconds"/>: requests keep being answered,
/// each with <c>Connection: close</c>. Then the host stops as before: Kestrel finishes in-flight
/// requests and closes what is left (open seat-map streams ended already, on ApplicationStopping).
/// </summary>
/// <remarks>
/// Without it, Kestrel closed idle kept-alive connections at once, and a request already on its way
/// on one of them was lost: the client saw the connection reset, not an answer, and a proxy does
/// not retry a POST after that.
/// </remarks>
public sealed class GracefulDrain(IOptions<ServerOptions> options, TimeProvider time, ILogger<GracefulDrain> logger) : IHostedLifecycleService
{
    private volatile bool draining;

    /// <summary>True once the node was asked to stop: readiness should report not ready.</summary>
    public bool IsDraining => draining;

    /// <summary>Marks the node draining and holds the shutdown for the drain period (or until the host's shutdown timeout).</summary>
    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        draining = true;
        var seconds = options.Value.DrainSeconds;
        if (seconds <= 0)
        {
            return;
        }

        logger.LogInformation("Stopping: draining for {Seconds} s; every response now says Connection: close", seconds);
        await Task.Delay(TimeSpan.FromSeconds(seconds), time, cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    /// <inheritdoc />
    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>Wires <see cref="ServerOptions"/>, the connection cap and <see cref="GracefulDrain"/>.</summary>
public static class GracefulDrainSetup
{
    /// <summary>Binds <c>Server</c>, applies its connection cap to Kestrel, and registers the drain.</summary>
    public static IServiceCollection AddHoldfastServer(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddSettings<ServerOptions>("Server");
        services.AddOptions<KestrelServerOptions>()
            .Configure<IOptions<ServerOptions>>((kestrel, server) => kestrel.Limits.MaxConcurrentConnections = server.Value.MaxConcurrentConnections);
        // The host's own timeout must leave room for the drain and then the requests in flight.
        services.AddOptions<HostOptions>()
            .Configure<IOptions<ServerOptions>>((host, server) =>
                host.ShutdownTimeout = TimeSpan.FromSeconds(Math.Max(host.ShutdownTimeout.TotalSeconds, server.Value.DrainSeconds + 25)));
        services.AddSingleton<GracefulDrain>();
        services.AddHostedService(sp => sp.GetRequiredService<GracefulDrain>());
        return services;
    }

    /// <summary>
    /// While the node drains, adds <c>Connection: close</c> to every HTTP/1.x response (HTTP/2 has
    /// no such header; Kestrel sends GOAWAY there). Put it first, so it sees every response.
    /// </summary>
    public static WebApplication UseHoldfastDrain(this WebApplication app)
    {
        var drain = app.Services.GetRequiredService<GracefulDrain>();
        // One delegate for the app's life: a request costs a callback registration, no allocation of its own.
        Func<object, Task> closeWhenDraining = state =>
        {
            if (drain.IsDraining)
            {
                ((HttpResponse)state).Headers.Connection = "close";
            }

            return Task.CompletedTask;
        };
        app.Use((context, next) =>
        {
            if (HttpProtocol.IsHttp11(context.Request.Protocol) || HttpProtocol.IsHttp10(context.Request.Protocol))
            {
                context.Response.OnStarting(closeWhenDraining, context.Response);
            }

            return next(context);
        });
        return app;
    }
}

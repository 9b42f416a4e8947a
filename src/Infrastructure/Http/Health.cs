using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Holdfast.Infrastructure.Http;

/// <summary>
/// Liveness and readiness endpoints for nginx and orchestrators, on ASP.NET Core's health checks:
/// <c>GET /health/live</c> answers 200 while the process serves HTTP (it touches nothing else);
/// <c>GET /health/ready</c> answers 200 when the database answers and the node is not draining
/// after SIGTERM (<see cref="GracefulDrain"/>), else 503. Both are plain text
/// (<c>Healthy</c> / <c>Unhealthy</c>), anonymous and outside rate limiting.
/// </summary>
public static class Health
{
    private const string ReadyTag = "ready";

    /// <summary>Registers the checks: the database, tagged for readiness.</summary>
    public static IServiceCollection AddHoldfastHealth(this IServiceCollection services)
    {
        services.AddSingleton<DatabaseOutage>();
        services.AddExceptionHandler<DatabaseUnavailableExceptionHandler>();
        services.AddHealthChecks()
            .AddCheck<DatabaseHealthCheck>("database", tags: [ReadyTag], timeout: TimeSpan.FromSeconds(3))
            .AddCheck<DrainingHealthCheck>("draining", tags: [ReadyTag]);
        return services;
    }

    /// <summary>Maps <c>/health/live</c> and <c>/health/ready</c>.</summary>
    public static IEndpointRouteBuilder MapHoldfastHealth(this IEndpointRouteBuilder app)
    {
        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false })
            .WithMetadata(new HttpMethodMetadata(["GET"])).DisableRateLimiting().ExcludeFromDescription();
        app.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = check => check.Tags.Contains(ReadyTag) })
            .WithMetadata(new HttpMethodMetadata(["GET"])).DisableRateLimiting().ExcludeFromDescription();
        return app;
    }
}

/// <summary>Readiness: not ready once the node is draining, so balancers stop sending it work.</summary>
internal sealed class DrainingHealthCheck(GracefulDrain drain) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(drain.IsDraining ? HealthCheckResult.Unhealthy("The node is draining after SIGTERM.") : HealthCheckResult.Healthy());
}

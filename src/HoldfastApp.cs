using System.Text.Json;
using Carter;
using Holdfast.Infrastructure;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Holdfast.Infrastructure.Jobs;
using Holdfast.Infrastructure.Payments;
using Holdfast.Infrastructure.SeatFeed;
using Microsoft.Extensions.Options;

namespace Holdfast;

/// <summary>Composes the web application: services, middleware, and every slice's routes.</summary>
public static class HoldfastApp
{
    /// <summary>Builds the app from <paramref name="args"/> and configuration, migrating first when <c>Database:MigrateOnStartup</c> is set.</summary>
    public static async Task<WebApplication> BuildAsync(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        var services = builder.Services;
        var assembly = typeof(HoldfastApp).Assembly;

        services.AddSingleton(TimeProvider.System);
        services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
            o.SerializerOptions.Converters.Add(new StorableStringConverter());
        });
        services.AddSettings<HttpLimitsOptions>("Http");
        services.AddHoldfastServer(builder.Configuration);
        services.AddHoldfastProblemDetails();
        services.AddHoldfastHealth();
        services.AddHoldfastTelemetry(builder.Configuration);
        services.AddHoldfastDatabase(builder.Configuration);
        services.AddHoldfastReadReplica();
        services.AddHoldfastAuth();
        services.AddHoldfastRateLimiting();
        services.AddSingleton(RecurringJob.Of<PruneIdempotencyKeysArgs>("idempotency.prune", "17 * * * *"));
        services.AddJobs(builder.Configuration, assembly);
        services.AddSettings<Holdfast.Infrastructure.Caching.ReadCacheOptions>("Cache");
        services.AddSingleton<Holdfast.Infrastructure.Caching.ReadCache>();
        services.AddSettings<SeatFeedOptions>("SeatFeed");
        services.AddSingleton<SeatFeedHub>();
        services.AddHostedService(sp => sp.GetRequiredService<SeatFeedHub>());
        services.AddSingleton<SeatFeedAnnouncer>();
        services.AddHostedService(sp => sp.GetRequiredService<SeatFeedAnnouncer>());
        // Payments:Provider picks the gateway: the built-in fake (default) or Stripe.
        services.AddSettings<StripeOptions>("Payments:Stripe")
            .Validate<IConfiguration>((stripe, configuration) =>
                    !string.Equals(configuration["Payments:Provider"], "stripe", StringComparison.OrdinalIgnoreCase) || !string.IsNullOrWhiteSpace(stripe.SecretKey),
                "Payments:Stripe:SecretKey is required when Payments:Provider is stripe.");
        services.AddSingleton<FakePaymentGateway>();
        // Stripe.net sends over this client, so the timeout is ours (Stripe.net's own default is 80 s).
        services.AddHttpClient<StripeGateway>((sp, client) =>
            client.Timeout = TimeSpan.FromSeconds(sp.GetRequiredService<IOptions<StripeOptions>>().Value.TimeoutSeconds));
        services.AddTransient<IPaymentGateway>(sp =>
            string.Equals(sp.GetRequiredService<IConfiguration>()["Payments:Provider"], "stripe", StringComparison.OrdinalIgnoreCase)
                ? sp.GetRequiredService<StripeGateway>()
                : sp.GetRequiredService<FakePaymentGateway>());
        services.AddHoldfastOpenApi();
        services.AddHoldfastCors(builder.Configuration);
        // Only this assembly's modules: Carter's default catalog scans the entry assembly's dependency
        // context, which under WebApplicationFactory is the test project's, not the app's.
        services.AddCarter(new DependencyContextAssemblyCatalog([assembly]));
        foreach (var configure in assembly.GetTypes().Where(t => typeof(IConfigureServices).IsAssignableFrom(t) && t.IsClass))
        {
            ((IConfigureServices)Activator.CreateInstance(configure)!).ConfigureServices(services, builder.Configuration);
        }

        var app = builder.Build();
        if (app.Services.GetRequiredService<IOptions<DatabaseOptions>>().Value.MigrateOnStartup)
        {
            var report = await app.Services.GetRequiredService<MigrationRunner>().MigrateAsync(dryRun: false, CancellationToken.None);
            app.Logger.LogInformation("Migrations applied at start-up: {Count}", report.Applied.Count);
        }

        app.UseHoldfastDrain();
        app.UseHoldfastProblemDetails();
        app.UseCors();
        app.UseDefaultFiles();
        app.UseStaticFiles();
        app.UseMiddleware<StorableTextMiddleware>();
        app.UseRequestBodyLimits();
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseRateLimiter();
        app.UseMiddleware<IdempotencyMiddleware>();
        app.MapHoldfastHealth();
        app.MapHoldfastOpenApi();
        app.MapCarter();
        return app;
    }
}

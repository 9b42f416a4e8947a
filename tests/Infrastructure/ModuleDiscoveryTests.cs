using System.Net;
using Carter;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Holdfast.Tests.Infrastructure;

/// <summary>A public module in the test assembly: Carter must not map it into the app under test.</summary>
public sealed class CanaryModule : ICarterModule
{
    public void AddRoutes(IEndpointRouteBuilder app) => app.MapGet("/test-canary", () => "canary");
}

public sealed class ModuleDiscoveryTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    [Fact]
    public async Task Carter_maps_each_of_the_apps_modules_once_and_none_from_the_tests()
    {
        var registered = fixture.App.Services.GetServices<ICarterModule>().Select(m => m.GetType().FullName).Order(StringComparer.Ordinal);
        var appModules = typeof(Program).Assembly.GetTypes()
            .Where(t => t is { IsClass: true, IsAbstract: false } && typeof(ICarterModule).IsAssignableFrom(t))
            .Select(t => t.FullName).Order(StringComparer.Ordinal);

        Assert.Equal(appModules, registered);
        using var client = fixture.App.CreateClient();
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync(new Uri("/test-canary", UriKind.Relative), TestContext.Current.CancellationToken)).StatusCode);
    }
}

using System.Reflection;

namespace Holdfast.Infrastructure;

/// <summary>
/// A vertical slice's route registration, shaped exactly like Carter's <c>ICarterModule</c> so that
/// moving to Carter (once a net10 build of it restores here) is a package reference and a rename.
/// See docs/decisions/0001-carter-shaped-modules.md.
/// </summary>
public interface ICarterModule
{
    /// <summary>Maps the slice's endpoints onto <paramref name="app"/>.</summary>
    void AddRoutes(IEndpointRouteBuilder app);
}

/// <summary>Finds every <see cref="ICarterModule"/> in the app's assembly and maps it, as Carter's <c>MapCarter()</c> does.</summary>
public static class ModuleDiscovery
{
    /// <summary>Registers each module type as a singleton so modules may take constructor dependencies.</summary>
    public static IServiceCollection AddCarter(this IServiceCollection services, Assembly assembly)
    {
        foreach (var type in ModuleTypes(assembly))
        {
            services.AddSingleton(typeof(ICarterModule), type);
        }

        return services;
    }

    /// <summary>Calls <see cref="ICarterModule.AddRoutes"/> on every registered module.</summary>
    public static IEndpointRouteBuilder MapCarter(this IEndpointRouteBuilder app)
    {
        foreach (var module in app.ServiceProvider.GetServices<ICarterModule>())
        {
            module.AddRoutes(app);
        }

        return app;
    }

    private static IEnumerable<Type> ModuleTypes(Assembly assembly) =>
        assembly.GetTypes()
            .Where(t => t is { IsClass: true, IsAbstract: false } && typeof(ICarterModule).IsAssignableFrom(t))
            .OrderBy(t => t.FullName, StringComparer.Ordinal);
}

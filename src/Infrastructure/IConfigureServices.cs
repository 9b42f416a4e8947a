namespace Holdfast.Infrastructure;

/// <summary>
/// A slice's own service registrations (options, typed clients), found by assembly scan as Carter
/// finds <see cref="Carter.ICarterModule"/>s, so adding a slice never means editing <c>Program.cs</c>.
/// Implementations need a public parameterless constructor.
/// </summary>
public interface IConfigureServices
{
    /// <summary>Adds the slice's services.</summary>
    void ConfigureServices(IServiceCollection services, IConfiguration configuration);
}

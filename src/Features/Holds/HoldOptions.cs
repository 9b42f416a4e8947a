using System.ComponentModel.DataAnnotations;
using Holdfast.Infrastructure;

namespace Holdfast.Features.Holds;

/// <summary>Settings under <c>Holds</c> in configuration.</summary>
public sealed class HoldOptions
{
    /// <summary>How long a hold lasts before it expires and its seats are released, in seconds (default 600).</summary>
    [Range(1, 3600)]
    public int DurationSeconds { get; set; } = 600;

    /// <summary>Most seats one customer may hold or have booked on one show (default 10).</summary>
    [Range(1, 10_000)]
    public int MaxSeatsPerCustomerPerShow { get; set; } = 10;
}

/// <summary>Registers <see cref="HoldOptions"/>.</summary>
public sealed class HoldServices : IConfigureServices
{
    /// <inheritdoc />
    public void ConfigureServices(IServiceCollection services, IConfiguration configuration) =>
        services.AddSettings<HoldOptions>("Holds");
}

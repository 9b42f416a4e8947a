using System.ComponentModel.DataAnnotations;
using Holdfast.Infrastructure;

namespace Holdfast.Features.Checkout;

/// <summary>One step of the refund policy: cancelled at least this many hours before the show, this share back.</summary>
/// <param name="HoursBefore">Elapsed hours before the start.</param>
/// <param name="Percent">0–100.</param>
public sealed record RefundTier(int HoursBefore, int Percent);

/// <summary>Settings under <c>Refunds</c> in configuration.</summary>
public sealed class RefundOptions : IValidatableObject
{
    /// <summary>Tiers, any order (default: 100 % until 48 h before, 50 % until 2 h, nothing after).</summary>
    public List<RefundTier> Tiers { get; set; } = [new(48, 100), new(2, 50)];

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var tier in Tiers)
        {
            if (tier.HoursBefore is < 0 or > 8760)
            {
                yield return new ValidationResult($"must each have HoursBefore between 0 and 8760 (found {tier.HoursBefore}).", [nameof(Tiers)]);
            }

            if (tier.Percent is < 0 or > 100)
            {
                yield return new ValidationResult($"must each have Percent between 0 and 100 (found {tier.Percent}).", [nameof(Tiers)]);
            }
        }
    }
}

/// <summary>
/// How much of a cancelled seat's price goes back. Hours are elapsed time from the cancellation to
/// the show's start instant, so "48 h before" a 09:00 show on the day after the clocks go forward
/// is 08:00 local two days before, as a wall clock in the show's own zone shows it.
/// </summary>
public static class RefundPolicy
{
    /// <summary>The percentage refunded when cancelling at <paramref name="now"/> a show starting at <paramref name="startsAt"/>.</summary>
    public static int PercentFor(IEnumerable<RefundTier> tiers, DateTimeOffset startsAt, DateTimeOffset now)
    {
        var before = startsAt - now;
        return tiers.OrderByDescending(t => t.HoursBefore).FirstOrDefault(t => before >= TimeSpan.FromHours(t.HoursBefore))?.Percent ?? 0;
    }

    /// <summary><paramref name="percent"/> of <paramref name="amountMinor"/>, rounded down so a refund never exceeds the share.</summary>
    public static long Share(long amountMinor, int percent) => amountMinor * percent / 100;
}

/// <summary>Registers <see cref="RefundOptions"/>.</summary>
public sealed class RefundServices : IConfigureServices
{
    /// <inheritdoc />
    public void ConfigureServices(IServiceCollection services, IConfiguration configuration) =>
        services.AddSettings<RefundOptions>("Refunds");
}

using Holdfast.Features.Checkout;
using Holdfast.Features.Reminders;
using Holdfast.Infrastructure;
using Holdfast.Infrastructure.Jobs;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Holdfast.Tests.Infrastructure;

/// <summary>
/// A list setting given in configuration is the whole list: it replaces the default instead of
/// being appended to it (the configuration binder's own behaviour for a property that starts with
/// elements), and a list left out of configuration keeps its default.
/// </summary>
public sealed class SettingsListTests
{
    [Fact]
    public void Configured_reminder_offsets_replace_the_default()
    {
        var options = Bind<ReminderOptions>("Reminders", ("Reminders:OffsetsHours:0", "24"));

        Assert.Equal([24], options.OffsetsHours);
    }

    [Fact]
    public void Configured_refund_tiers_replace_the_default()
    {
        var options = Bind<RefundOptions>("Refunds",
            ("Refunds:Tiers:0:HoursBefore", "72"), ("Refunds:Tiers:0:Percent", "80"),
            ("Refunds:Tiers:1:HoursBefore", "0"), ("Refunds:Tiers:1:Percent", "10"));

        Assert.Equal([new RefundTier(72, 80), new RefundTier(0, 10)], options.Tiers);
    }

    [Fact]
    public void Configured_job_queues_replace_the_default()
    {
        var options = Bind<JobOptions>("Jobs", ("Jobs:Queues:0", "holds"));

        Assert.Equal(["holds"], options.Queues);
    }

    [Fact]
    public void Lists_left_out_of_configuration_keep_their_defaults()
    {
        Assert.Equal([48, 3], Bind<ReminderOptions>("Reminders").OffsetsHours);
        Assert.Equal([new RefundTier(48, 100), new RefundTier(2, 50)], Bind<RefundOptions>("Refunds").Tiers);
        Assert.Equal(["default", "holds"], Bind<JobOptions>("Jobs", ("Jobs:LeaseSeconds", "30")).Queues);
    }

    /// <summary>The same through the running app's environment variables, as an operator sets them.</summary>
    [Fact]
    public void Environment_style_keys_replace_the_default_too()
    {
        var options = Bind<ReminderOptions>("Reminders", ("Reminders__OffsetsHours__0", "24"), ("Reminders__OffsetsHours__1", "1"));

        Assert.Equal([24, 1], options.OffsetsHours);
    }

    // AddSettings as the app registers it, over an in-memory configuration (the environment
    // variables provider turns "__" into ":", as here).
    private static T Bind<T>(string section, params (string Key, string Value)[] settings)
        where T : class
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(settings.Select(s => KeyValuePair.Create(s.Key.Replace("__", ":", StringComparison.Ordinal), (string?)s.Value)))
            .Build();
        var services = new ServiceCollection().AddSingleton<IConfiguration>(configuration);
        services.AddSettings<T>(section);
        using var provider = services.BuildServiceProvider();
        return provider.GetRequiredService<IOptions<T>>().Value;
    }
}

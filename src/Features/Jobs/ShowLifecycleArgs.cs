using Holdfast.Infrastructure.Jobs;

namespace Holdfast.Features.Jobs;

/// <summary>The <c>shows.lifecycle</c> recurring job's arguments: a lifecycle run (every minute); the handler is <c>Lifecycle/ShowLifecycle</c>.</summary>
public sealed record ShowLifecycleArgs : ScheduledRun, IJobArgs
{
    /// <inheritdoc />
    public static string Kind => "shows.lifecycle";
}

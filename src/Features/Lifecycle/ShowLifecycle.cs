using Holdfast.Features.Jobs;
using Holdfast.Infrastructure;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Jobs;
using Npgsql;

namespace Holdfast.Features.Lifecycle;

/// <summary>
/// The <c>shows.lifecycle</c> recurring job (every minute): moves shows along
/// on_sale → closed (at <c>sales_closes_at</c>) → departed (at the start) → completed (at the end).
/// Holds are refused from the close of sales by <c>HoldSeats</c> itself, so this job's minute of
/// lag never lets a late hold through; it keeps statuses honest for search, reports and reminders.
/// </summary>
public sealed class ShowLifecycle(NpgsqlDataSource db, TimeProvider time) : JobHandler<ShowLifecycleArgs>
{
    /// <inheritdoc />
    public override async Task HandleAsync(JobContext job, ShowLifecycleArgs args, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand(AdvanceSql);
        command.With("now", time.GetUtcNow());
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    // Each step looks only at shows in the state before it, through the statuses' own predicates.
    private const string AdvanceSql = """
        update show set status = 'closed' where status = 'on_sale' and sales_closes_at <= @now and starts_at > @now;
        update show set status = 'departed' where status in ('on_sale', 'closed', 'scheduled') and starts_at <= @now and ends_at > @now;
        update show set status = 'completed' where status in ('on_sale', 'closed', 'scheduled', 'departed') and ends_at <= @now;
        """;
}

/// <summary>Schedules <see cref="ShowLifecycle"/> every minute.</summary>
public sealed class ShowLifecycleServices : IConfigureServices
{
    /// <inheritdoc />
    public void ConfigureServices(IServiceCollection services, IConfiguration configuration) =>
        services.AddSingleton(RecurringJob.Of<ShowLifecycleArgs>("shows.lifecycle", "* * * * *"));
}

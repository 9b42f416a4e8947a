using Holdfast.Infrastructure.Jobs;

namespace Holdfast.Features.Jobs;

/// <summary>The <c>payments.reconcile</c> recurring job's arguments: a reconciliation run (every 5 minutes); the handler is <c>Checkout/ReconcilePayments</c>.</summary>
public sealed record ReconcilePaymentsArgs : ScheduledRun, IJobArgs
{
    /// <inheritdoc />
    public static string Kind => "payments.reconcile";
}

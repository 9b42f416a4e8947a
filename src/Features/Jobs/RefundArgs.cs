using Holdfast.Infrastructure.Jobs;

namespace Holdfast.Features.Jobs;

/// <summary>The <c>payments.refund</c> job's arguments: the refund to pay out; the handler is <c>Checkout/ProcessRefund</c>.</summary>
/// <param name="RefundId">The <c>refund</c> row.</param>
public sealed record RefundArgs(long RefundId) : IJobArgs
{
    /// <inheritdoc />
    public static string Kind => "payments.refund";

    /// <inheritdoc />
    public static JobInsertOptions Options { get; } = new(MaxAttempts: 50);

    /// <inheritdoc />
    public static string UniqueKeySql => "'refund:' || a.refund_id";

    /// <inheritdoc />
    public string UniqueKey() => $"refund:{RefundId}";
}

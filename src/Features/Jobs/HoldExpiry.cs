using Holdfast.Infrastructure.Jobs;

namespace Holdfast.Features.Jobs;

/// <summary>
/// The <c>hold.expire</c> job's arguments: the hold whose seats go back on sale at its
/// <c>expires_at</c>. The inventory (<c>Inventory/SeatInventory</c>) inserts it with the hold and
/// cancels it when the hold ends any other way; the handler is <c>Holds/ExpireHold</c>.
/// </summary>
/// <param name="HoldId">The hold.</param>
public sealed record HoldExpiry(long HoldId) : IJobArgs
{
    /// <inheritdoc />
    public static string Kind => "hold.expire";

    /// <inheritdoc />
    public static JobInsertOptions Options { get; } = new(Queue: "holds", Priority: 1);

    /// <inheritdoc />
    public static string UniqueKeySql => "'hold:' || a.hold_id";

    /// <inheritdoc />
    public string UniqueKey() => $"hold:{HoldId}";
}

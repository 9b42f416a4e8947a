using Holdfast.Infrastructure.Jobs;

namespace Holdfast.Features.Jobs;

/// <summary>The <c>payments.deadline</c> job's arguments: the booking whose payment deadline this is; the handler is <c>Checkout/PaymentDeadline</c>.</summary>
/// <param name="BookingId">The booking.</param>
public sealed record PaymentDeadlineArgs(long BookingId) : IJobArgs
{
    /// <inheritdoc />
    public static string Kind => "payments.deadline";

    /// <inheritdoc />
    public static JobInsertOptions Options { get; } = new(Priority: 1);

    /// <inheritdoc />
    public static string UniqueKeySql => "'deadline:' || a.booking_id";

    /// <inheritdoc />
    public string UniqueKey() => $"deadline:{BookingId}";
}

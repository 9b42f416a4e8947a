using Holdfast.Infrastructure.Jobs;

namespace Holdfast.Features.Jobs;

/// <summary>
/// The <c>push.send</c> job's arguments: one message to one browser subscription. The payload keys
/// (<c>push_subscription_id</c>, <c>title</c>, <c>body</c>, <c>url</c>, <c>ttl_seconds</c>,
/// <c>urgency</c>) are those the jobs had before they were typed, so queued jobs still run.
/// </summary>
/// <param name="PushSubscriptionId">The subscription (a row of <c>push_subscription</c>).</param>
/// <param name="Title">The notification's title.</param>
/// <param name="Body">Its text.</param>
/// <param name="Url">Where a click on it leads, or null.</param>
/// <param name="TtlSeconds">How long the push service keeps it for an offline browser (the <c>TTL</c> header).</param>
/// <param name="Urgency">The <c>Urgency</c> header: <c>very-low</c>, <c>low</c>, <c>normal</c> or <c>high</c>.</param>
public sealed record PushArgs(long PushSubscriptionId, string Title, string Body, string? Url = null, int TtlSeconds = 86400, string Urgency = "normal") : IJobArgs
{
    /// <inheritdoc />
    public static string Kind => "push.send";

    /// <inheritdoc />
    public static JobInsertOptions Options { get; } = new(MaxAttempts: 8);
}

using Holdfast.Infrastructure.Jobs;

namespace Holdfast.Features.Jobs;

/// <summary>The <c>newsletter.email</c> job's arguments: one newsletter email; the handler is <c>Newsletter/NewsletterEmail</c>.</summary>
/// <param name="Template"><c>newsletter_confirm</c> or <c>newsletter_issue</c>.</param>
/// <param name="SubscriberId">The subscriber.</param>
/// <param name="IssueId">The issue (<c>newsletter_issue</c>).</param>
public sealed record NewsletterEmailArgs(string Template, long SubscriberId, long? IssueId = null) : IJobArgs
{
    /// <inheritdoc />
    public static string Kind => "newsletter.email";

    /// <inheritdoc />
    public static JobInsertOptions Options { get; } = new(MaxAttempts: 10);

    /// <inheritdoc />
    public static string UniqueKeySql =>
        "case a.template when 'newsletter_issue' then 'newsletter:' || a.issue_id || ':' || a.subscriber_id else a.template || ':' || a.subscriber_id end";

    /// <inheritdoc />
    public string UniqueKey() => Template == "newsletter_issue" ? $"newsletter:{IssueId}:{SubscriberId}" : $"{Template}:{SubscriberId}";

    /// <summary>The double opt-in email.</summary>
    public static NewsletterEmailArgs Confirm(long subscriberId) => new("newsletter_confirm", subscriberId);
}

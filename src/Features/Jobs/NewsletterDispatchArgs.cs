using Holdfast.Infrastructure.Jobs;

namespace Holdfast.Features.Jobs;

/// <summary>The <c>newsletter.dispatch</c> job's arguments: a dispatch of one issue's batch after subscriber <paramref name="After"/>; the handler is <c>Newsletter/DispatchNewsletter</c>.</summary>
/// <param name="IssueId">The issue.</param>
/// <param name="After">The last subscriber id queued before this batch (0 for the first); it makes each batch's job one of a kind.</param>
public sealed record NewsletterDispatchArgs(long IssueId, long After = 0) : IJobArgs
{
    /// <inheritdoc />
    public static string Kind => "newsletter.dispatch";

    /// <inheritdoc />
    public string UniqueKey() => $"newsletter-dispatch:{IssueId}:{After}";
}

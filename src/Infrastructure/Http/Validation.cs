using Microsoft.AspNetCore.Http.HttpResults;

namespace Holdfast.Infrastructure.Http;

/// <summary>
/// Collects field errors for one request and turns them into an RFC 9457 validation problem
/// (<c>errors: { field: [reason] }</c>, status 400).
/// </summary>
public sealed class Validation
{
    private readonly Dictionary<string, List<string>> errors = new(StringComparer.Ordinal);

    /// <summary>True when no error was added.</summary>
    public bool IsValid => errors.Count == 0;

    /// <summary>Records that <paramref name="field"/> (snake_case, as on the wire) is wrong and why.</summary>
    public Validation Add(string field, string reason)
    {
        if (!errors.TryGetValue(field, out var reasons))
        {
            errors[field] = reasons = [];
        }

        reasons.Add(reason);
        return this;
    }

    /// <summary>Adds the error when <paramref name="condition"/> is false.</summary>
    public Validation Require(bool condition, string field, string reason) => condition ? this : Add(field, reason);

    /// <summary>The 400 response for the collected errors.</summary>
    public ValidationProblem Problem() =>
        TypedResults.ValidationProblem(
            errors.ToDictionary(e => e.Key, e => e.Value.ToArray()),
            title: "The request is not valid.");
}

/// <summary>Problem-details results the slices share, so the same situation reads the same everywhere.</summary>
public static class Problems
{
    /// <summary>
    /// Sets <c>Retry-After</c> (RFC 9110 §10.2.3) to <paramref name="wait"/> in whole seconds, rounded
    /// up and at least 1, and returns those seconds for the problem's detail.
    /// </summary>
    public static int SetRetryAfter(HttpResponse response, TimeSpan wait)
    {
        var seconds = Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds));
        response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return seconds;
    }

    /// <summary>404 for a resource that does not exist or that the caller may not see.</summary>
    public static ProblemHttpResult NotFound(string what) =>
        TypedResults.Problem(title: $"{what} not found.", statusCode: StatusCodes.Status404NotFound);

    /// <summary>409 with a title, a detail and optional extension members (e.g. the seats that are gone).</summary>
    public static ProblemHttpResult Conflict(string title, string detail, IDictionary<string, object?>? extensions = null) =>
        TypedResults.Problem(title: title, detail: detail, statusCode: StatusCodes.Status409Conflict, extensions: extensions);
}

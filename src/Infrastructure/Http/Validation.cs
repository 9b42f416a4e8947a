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

    /// <summary>
    /// 400 naming one wrong field, in the same shape as <see cref="Validation.Problem"/>
    /// (<c>errors: { field: [reason] }</c>), for a slice whose result type has no <c>ValidationProblem</c>
    /// or a rule found by the database (a foreign key the field names).
    /// </summary>
    public static ProblemHttpResult Field(string field, string reason) =>
        TypedResults.Problem(new HttpValidationProblemDetails(new Dictionary<string, string[]> { [field] = [reason] })
        {
            Title = "The request is not valid.",
            Status = StatusCodes.Status400BadRequest,
        });

    /// <summary>400 that is not about one field (a malformed envelope, a bad signature).</summary>
    public static ProblemHttpResult BadRequest(string title, string? detail = null) =>
        TypedResults.Problem(title: title, detail: detail, statusCode: StatusCodes.Status400BadRequest);

    /// <summary>401 with a reason the client may show (a refused login, refresh or second factor).</summary>
    public static ProblemHttpResult Unauthorized(string title, string? detail = null) =>
        TypedResults.Problem(title: title, detail: detail, statusCode: StatusCodes.Status401Unauthorized);

    /// <summary>402 for a payment the provider refused; <paramref name="extensions"/> carry its decline code.</summary>
    public static ProblemHttpResult PaymentRequired(string title, string? detail = null, IDictionary<string, object?>? extensions = null) =>
        TypedResults.Problem(title: title, detail: detail, statusCode: StatusCodes.Status402PaymentRequired, extensions: extensions);

    /// <summary>
    /// 429 with <c>Retry-After</c> set to <paramref name="wait"/> (whole seconds, RFC 6585 §4) and the
    /// wait named in the detail.
    /// </summary>
    public static ProblemHttpResult TooManyRequests(HttpResponse response, string title, TimeSpan wait) =>
        TypedResults.Problem(title: title, detail: $"Try again in {SetRetryAfter(response, wait)} s.", statusCode: StatusCodes.Status429TooManyRequests);

    /// <summary>502 for a payment provider (or other upstream) that could not be reached; never its address or exception text.</summary>
    public static ProblemHttpResult BadGateway(string title, string? detail = null) =>
        TypedResults.Problem(title: title, detail: detail, statusCode: StatusCodes.Status502BadGateway);
}

namespace Holdfast.Infrastructure.Http;

/// <summary>
/// Endpoint metadata: the endpoint may answer <see cref="StatusCode"/> with problem details
/// (RFC 9457), for the reason in <see cref="Description"/>. Read by <see cref="OpenApiSetup"/>,
/// which declares it with the shared <c>ProblemDetails</c> schema; the contract tests then accept
/// that status from that operation and no other undeclared one.
/// </summary>
/// <param name="StatusCode">The HTTP status, e.g. 409.</param>
/// <param name="Description">When it is answered, as a client developer reads it in the reference.</param>
public sealed record ProblemResponseMetadata(int StatusCode, string Description);

/// <summary>
/// Endpoint metadata: the answer carries an <c>ETag</c> and a request whose <c>If-None-Match</c>
/// names it gets 304 Not Modified with no body (RFC 9110 §13.1.2), as <c>ReadCache.Write</c> answers.
/// </summary>
public sealed record ETagResponseMetadata;

/// <summary>
/// Endpoint metadata: a query parameter the handler reads and validates itself (from
/// <c>HttpRequest.Query</c>, to name every wrong field at once), declared for the document with its
/// type and limits.
/// </summary>
/// <param name="Name">The parameter, snake_case, e.g. <c>min_price</c>.</param>
/// <param name="Description">What it does and its unit.</param>
/// <param name="Type">Its JSON type: <c>string</c> (default) or <c>integer</c>.</param>
/// <param name="Format">E.g. <c>date</c> (RFC 3339 full-date) or <c>int64</c>.</param>
/// <param name="Minimum">Least value of an integer.</param>
/// <param name="Maximum">Greatest value of an integer.</param>
/// <param name="MaxLength">Longest string, in characters.</param>
/// <param name="Enum">The only values allowed, when there is such a list.</param>
/// <param name="Default">The value used when the parameter is absent.</param>
/// <param name="Pattern">A regular expression (ECMA 262) the value matches.</param>
/// <param name="Example">A value to show in the reference, e.g. <c>LHR</c>.</param>
public sealed record QueryParameterMetadata(
    string Name, string Description, string Type = "string", string? Format = null, long? Minimum = null, long? Maximum = null,
    int? MaxLength = null, string[]? Enum = null, string? Default = null, string? Pattern = null, string? Example = null);

/// <summary>Endpoint metadata: an example request body (JSON) for the reference and generated clients' docs.</summary>
/// <param name="Json">The example, as JSON text in the API's snake_case.</param>
public sealed record RequestExampleMetadata(string Json);

/// <summary>How a slice declares what its route takes and answers beyond what its handler's signature says.</summary>
public static class EndpointContract
{
    /// <summary>
    /// An example body for the request, e.g. <c>new { seats = new[] { "12A", "12B" } }</c>; property
    /// names are written in snake_case as the API reads them.
    /// </summary>
    public static TBuilder WithRequestExample<TBuilder>(this TBuilder builder, object example) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new RequestExampleMetadata(System.Text.Json.JsonSerializer.Serialize(example, ExampleJson)));

    private static readonly System.Text.Json.JsonSerializerOptions ExampleJson = new() { PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.SnakeCaseLower };

    /// <summary>Declares the query parameters the handler reads itself (see <see cref="QueryParameterMetadata"/>).</summary>
    public static TBuilder DeclaresQuery<TBuilder>(this TBuilder builder, params QueryParameterMetadata[] parameters)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata([.. parameters]);

    /// <summary>
    /// Declares that the endpoint may answer <paramref name="statusCode"/> with problem details,
    /// when <paramref name="description"/> says. 401, 403, 400 (binding), 404 (an id in the path),
    /// 429 (a rate limit) and 503 are declared for every endpoint they apply to by
    /// <see cref="OpenApiSetup"/> and need not be repeated.
    /// </summary>
    public static TBuilder DeclaresProblem<TBuilder>(this TBuilder builder, int statusCode, string description)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new ProblemResponseMetadata(statusCode, description));

    /// <summary>Declares the <c>ETag</c> on the 200 answer and the 304 answer to a matching <c>If-None-Match</c>.</summary>
    public static TBuilder AnswersWithETag<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new ETagResponseMetadata());
}

using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Json.Schema;

namespace Holdfast.Tests.Infrastructure;

/// <summary>
/// Checks an HTTP response against the app's own OpenAPI document (issue 12): the operation is
/// documented, its status is declared, and a JSON body is valid against the declared schema
/// (JsonSchema.Net, JSON Schema 2020-12, which OpenAPI 3.1 schemas are). Streams (SSE) are not read.
/// </summary>
public sealed partial class ContractValidator
{
    private readonly List<(string Method, Regex Path, string Template, JsonObject Operation)> operations = [];
    private readonly JsonObject schemas;
    private readonly ConcurrentDictionary<string, JsonSchema> compiled = new(StringComparer.Ordinal);

    /// <summary>Reads the operations and component schemas of <paramref name="document"/>.</summary>
    public ContractValidator(JsonObject document)
    {
        schemas = document["components"]?["schemas"]?.AsObject() ?? [];
        foreach (var (template, item) in document["paths"]!.AsObject())
        {
            foreach (var (method, operation) in item!.AsObject())
            {
                if (operation is JsonObject op)
                {
                    var pattern = "^" + PathParameter().Replace(Regex.Escape(template).Replace("\\{", "{", StringComparison.Ordinal), "[^/]+") + "$";
                    operations.Add((method.ToUpperInvariant(), new Regex(pattern, RegexOptions.CultureInvariant), template, op));
                }
            }
        }

        // The most literal template wins (/holds/mine before /holds/{holdId}).
        operations.Sort((a, b) => a.Template.Count(c => c == '{').CompareTo(b.Template.Count(c => c == '{')));
    }

    /// <summary>
    /// What is wrong with <paramref name="response"/> to <paramref name="method"/> <paramref name="path"/>,
    /// or null when nothing is, or when the path is not part of the API (static files, health, the document itself).
    /// </summary>
    public string? Check(string method, string path, int status, MediaTypeHeaderValue? contentType, string? body)
    {
        if (method == "OPTIONS")
        {
            return null; // a CORS preflight, answered by the CORS middleware, is not an operation
        }

        var match = operations.FirstOrDefault(o => o.Method == method && o.Path.IsMatch(path));
        if (match.Operation is null)
        {
            return operations.Any(o => o.Path.IsMatch(path)) ? $"{method} {path}: the method is not documented for this path" : null;
        }

        var where = $"{method} {match.Template} → {status}";
        var responses = match.Operation["responses"]?.AsObject();
        var declared = responses?[status.ToString(System.Globalization.CultureInfo.InvariantCulture)]
                       ?? responses?[$"{status / 100}XX"]
                       ?? responses?["default"];
        if (declared is null)
        {
            return $"{where}: status not declared (declared: {string.Join(", ", responses?.Select(r => r.Key) ?? [])})";
        }

        if (string.IsNullOrEmpty(body) || status == 304)
        {
            return null;
        }

        var content = declared["content"]?.AsObject();
        if (content is null || content.Count == 0)
        {
            return $"{where}: a body ({contentType?.MediaType}) where none is declared";
        }

        var mediaType = contentType?.MediaType ?? "";
        var declaredType = content[mediaType] ?? (mediaType.EndsWith("json", StringComparison.Ordinal) ? content.FirstOrDefault(c => c.Key.EndsWith("json", StringComparison.Ordinal)).Value : null);
        if (declaredType is null)
        {
            return $"{where}: content type {mediaType} not declared (declared: {string.Join(", ", content.Select(c => c.Key))})";
        }

        if (!mediaType.EndsWith("json", StringComparison.Ordinal) || declaredType["schema"] is not JsonNode schemaNode)
        {
            return null;
        }

        var schema = compiled.GetOrAdd($"{where} {mediaType}", _ => Compile(schemaNode));
        using var instance = JsonDocument.Parse(body);
        var result = schema.Evaluate(instance.RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List });
        if (result.IsValid)
        {
            return null;
        }

        return $"{where}: body does not match the schema: {string.Join("; ", Errors(result).Take(5))}; body: {body[..Math.Min(body.Length, 300)]}";
    }

    /// <summary>What is wrong with <paramref name="json"/> as an instance of <paramref name="schema"/> (which may use the document's components), or null.</summary>
    public string? CheckValue(JsonNode schema, string json)
    {
        using var instance = JsonDocument.Parse(json);
        var result = Compile(schema).Evaluate(instance.RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List });
        return result.IsValid ? null : string.Join("; ", Errors(result));
    }

    // Each failing location with its message, once.
    private static IEnumerable<string> Errors(EvaluationResults result) =>
        (result.Details ?? []).Where(d => d.Errors is { Count: > 0 })
            .SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Value}")).Distinct();

    // One self-contained schema: the response's, with every component schema as $defs.
    private JsonSchema Compile(JsonNode schema)
    {
        var root = schema.DeepClone().AsObject();
        root["$defs"] = schemas.DeepClone();
        var text = root.ToJsonString().Replace("#/components/schemas/", "#/$defs/", StringComparison.Ordinal);
        return JsonSchema.FromText(text, new BuildOptions { SchemaRegistry = new SchemaRegistry() });
    }

    [GeneratedRegex(@"\{[^}]+\}")]
    private static partial Regex PathParameter();
}

/// <summary>
/// The test client's last handler: every response the suite receives is checked by
/// <see cref="ContractValidator"/>. A violation is recorded (see <see cref="ContractViolations"/>);
/// unless <c>HOLDFAST_CONTRACT=record</c>, it also fails the request, and so the test that made it.
/// </summary>
public sealed class ContractValidatingHandler(Func<ContractValidator> validator) : DelegatingHandler
{
    /// <inheritdoc />
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var response = await base.SendAsync(request, cancellationToken);
        if (response.Content.Headers.ContentType?.MediaType == "text/event-stream")
        {
            return response;
        }

        await response.Content.LoadIntoBufferAsync(cancellationToken);
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        var violation = validator().Check(request.Method.Method, request.RequestUri!.AbsolutePath, (int)response.StatusCode, response.Content.Headers.ContentType, body);
        if (violation is not null)
        {
            ContractViolations.Record(violation);
            if (ContractViolations.Enforced)
            {
                throw new InvalidOperationException($"The response breaks the OpenAPI contract: {violation}");
            }
        }

        return response;
    }
}

/// <summary>Every contract violation the suite met; written to <c>HOLDFAST_CONTRACT_REPORT</c> (a path) at exit.</summary>
public static class ContractViolations
{
    private static readonly ConcurrentDictionary<string, int> Seen = new(StringComparer.Ordinal);

    static ContractViolations()
    {
        if (Environment.GetEnvironmentVariable("HOLDFAST_CONTRACT_REPORT") is { Length: > 0 } path)
        {
            AppDomain.CurrentDomain.ProcessExit += (_, _) =>
                File.WriteAllLines(path, Seen.OrderBy(v => v.Key, StringComparer.Ordinal).Select(v => $"{v.Value}× {v.Key}"));
        }
    }

    /// <summary>
    /// True (the default) when a violation fails the request; <c>HOLDFAST_CONTRACT=record</c> only
    /// records it, to list every violation of a run at once while changing the contract.
    /// </summary>
    public static bool Enforced { get; } = Environment.GetEnvironmentVariable("HOLDFAST_CONTRACT") != "record";

    /// <summary>Counts one violation; those that differ only in the body quoted are counted together.</summary>
    public static void Record(string violation)
    {
        var at = violation.IndexOf("; body: ", StringComparison.Ordinal);
        Seen.AddOrUpdate(at < 0 ? violation : violation[..at], 1, (_, n) => n + 1);
    }
}

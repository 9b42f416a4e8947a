using System.Net;
using System.Text.Json.Nodes;

namespace Holdfast.Tests.Infrastructure;

/// <summary>An app whose CORS policy lets one other origin call it.</summary>
public sealed class CorsFixture : AppFixture
{
    public const string Origin = "https://shop.example";

    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?> { ["Cors:Origins:0"] = Origin };
}

/// <summary>
/// What the OpenAPI document tells a client developer, read as a generator would (issue 12): names,
/// operation ids, security, shared statuses; and the surfaces around it (/docs, CORS).
/// </summary>
public sealed class OpenApiContractTests(CorsFixture fixture) : IClassFixture<CorsFixture>
{
    private static readonly string[] Methods = ["get", "put", "post", "delete", "patch"];

    private TestApp App => fixture.App;

    private async Task<JsonObject> DocumentAsync()
    {
        using var client = App.CreateClient();
        return (await client.GetAsync("/openapi/v1.json").ExpectAsync(HttpStatusCode.OK)).AsObject();
    }

    private static IEnumerable<(string Path, string Method, JsonObject Operation)> Operations(JsonObject document) =>
        from path in document["paths"]!.AsObject()
        from method in Methods
        where path.Value![method] is JsonObject
        select (path.Key, method, path.Value![method]!.AsObject());

    [Fact]
    public async Task Every_operation_has_an_operation_id_and_no_two_share_one()
    {
        var operations = Operations(await DocumentAsync()).ToList();
        Assert.True(operations.Count > 40, $"only {operations.Count} operations");
        var missing = operations.Where(o => o.Operation["operationId"] is null).Select(o => $"{o.Method} {o.Path}").ToList();
        Assert.Empty(missing);
        var duplicates = operations.GroupBy(o => o.Operation["operationId"]!.GetValue<string>()).Where(g => g.Count() > 1)
            .Select(g => $"{g.Key}: {string.Join(", ", g.Select(o => $"{o.Method} {o.Path}"))}").ToList();
        Assert.Empty(duplicates);
        Assert.Equal("holdSeats", operations.Single(o => o is { Path: "/shows/{showId}/holds", Method: "post" }).Operation["operationId"]!.GetValue<string>());
    }

    [Fact]
    public async Task Request_bodies_of_different_slices_have_schemas_of_their_own()
    {
        var document = await DocumentAsync();
        var schemas = document["components"]!["schemas"]!.AsObject().Select(s => s.Key).ToList();
        Assert.DoesNotContain("Request", schemas);
        Assert.DoesNotContain("Response", schemas);

        string BodySchema(string path, string method) =>
            document["paths"]![path]![method]!["requestBody"]!["content"]!["application/json"]!["schema"]!["$ref"]!.GetValue<string>();
        Assert.Equal("#/components/schemas/HoldSeatsRequest", BodySchema("/shows/{showId}/holds", "post"));
        Assert.Equal("#/components/schemas/RegisterRequest", BodySchema("/auth/register", "post"));
    }

    [Fact]
    public async Task Operations_that_need_a_token_say_so_and_declare_401_and_503_with_retry_after()
    {
        var document = await DocumentAsync();
        var scheme = document["components"]!["securitySchemes"]![Holdfast.Infrastructure.Http.OpenApiSetup.BearerScheme]!;
        Assert.Equal("http", scheme["type"]!.GetValue<string>());
        Assert.Equal("bearer", scheme["scheme"]!.GetValue<string>());

        var release = document["paths"]!["/holds/{holdId}"]!["delete"]!;
        Assert.NotNull(release["security"]![0]![Holdfast.Infrastructure.Http.OpenApiSetup.BearerScheme]);
        Assert.NotNull(release["responses"]!["401"]);

        var search = document["paths"]!["/shows"]!["get"]!;
        Assert.Empty(search["security"]!.AsArray()); // "no token needed", said explicitly
        Assert.Null(search["responses"]!["401"]);
        Assert.NotNull(search["responses"]!["503"]!["headers"]!["Retry-After"]);
        Assert.NotNull(search["responses"]!["503"]!["content"]!["application/problem+json"]);
    }

    [Fact]
    public async Task Answers_beyond_the_typed_results_are_declared_where_they_happen()
    {
        var document = await DocumentAsync();
        JsonNode Operation(string path, string method) => document["paths"]![path]![method]!;
        string[] Statuses(string path, string method) => [.. Operation(path, method)["responses"]!.AsObject().Select(r => r.Key)];

        // The slice's own reasons (DeclaresProblem) and the middleware's (Idempotency-Key, body limit).
        var book = Operation("/holds/{holdId}/booking", "post");
        Assert.Subset(new HashSet<string>(Statuses("/holds/{holdId}/booking", "post")), new HashSet<string> { "402", "409", "413", "422", "502" });
        Assert.Contains(book["parameters"]!.AsArray(), p => p!["name"]!.GetValue<string>() == "Idempotency-Key" && p["in"]!.GetValue<string>() == "header");
        Assert.Equal("#/components/schemas/ProblemDetails", book["responses"]!["402"]!["content"]!["application/problem+json"]!["schema"]!["$ref"]!.GetValue<string>());
        Assert.Contains("401", Statuses("/auth/login", "post"));
        Assert.Contains("409", Statuses("/auth/register", "post"));

        // One status, two bodies: the token pair or the second-factor challenge.
        var login = Operation("/auth/login", "post")["responses"]!["200"]!["content"]!["application/json"]!["schema"]!["oneOf"]!.AsArray();
        Assert.Equal(["#/components/schemas/TokenPair", "#/components/schemas/LoginMfaChallenge"], login.Select(s => s!["$ref"]!.GetValue<string>()).Order().Reverse());

        // Cached reads: ETag on 200 and a 304 without a body.
        foreach (var path in new[] { "/shows", "/shows/{showId}", "/shows/{showId}/seats" })
        {
            var responses = Operation(path, "get")["responses"]!;
            Assert.NotNull(responses["200"]!["headers"]!["ETag"]);
            Assert.Null(responses["304"]!["content"]);
        }

        // The search's query, with types, ranges, enums and defaults, in snake_case.
        var query = Operation("/shows", "get")["parameters"]!.AsArray().ToDictionary(p => p!["name"]!.GetValue<string>(), p => p!["schema"]!);
        Assert.Equal(["departure", "price"], query["sort"]!["enum"]!.AsArray().Select(e => e!.GetValue<string>()));
        Assert.Equal((1, 100, 20), (query["limit"]!["minimum"]!.GetValue<int>(), query["limit"]!["maximum"]!.GetValue<int>(), query["limit"]!["default"]!.GetValue<int>()));
        Assert.Equal("date", query["date"]!["format"]!.GetValue<string>());
        Assert.Contains("min_price", query.Keys);
        var adminQueries = document["paths"]!.AsObject().SelectMany(p => p.Value!.AsObject().SelectMany(o => o.Value!["parameters"]?.AsArray() ?? []))
            .Where(p => p!["in"]!.GetValue<string>() == "query").Select(p => p!["name"]!.GetValue<string>()).Distinct().ToList();
        Assert.DoesNotContain(adminQueries, name => name.Any(char.IsUpper));
    }

    [Fact]
    public async Task The_main_flow_has_examples_and_each_is_valid_against_its_schema()
    {
        var document = await DocumentAsync();
        var validator = new ContractValidator(document);
        var examples = Operations(document)
            .Select(o => (o.Path, o.Method, Body: o.Operation["requestBody"]?["content"]?["application/json"]))
            .Where(o => o.Body?["example"] is not null)
            .ToList();
        Assert.Subset(examples.Select(e => $"{e.Method} {e.Path}").ToHashSet(),
            new HashSet<string> { "post /auth/register", "post /auth/login", "post /shows/{showId}/holds", "post /holds/{holdId}/booking" });
        foreach (var (path, method, body) in examples)
        {
            Assert.Null(validator.CheckValue(body!["schema"]!, body["example"]!.ToJsonString()) is { } error ? $"{method} {path}: {error}" : null);
        }
    }

    /// <summary>
    /// The validator the whole suite runs behind (<see cref="ContractValidatingHandler"/>) refuses
    /// what it should: without this, a validator that accepts everything would pass every test.
    /// </summary>
    [Fact]
    public async Task The_contract_validator_refuses_an_undeclared_status_a_body_off_its_schema_and_an_undeclared_type()
    {
        var validator = new ContractValidator(await DocumentAsync());
        var json = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        var problem = new System.Net.Http.Headers.MediaTypeHeaderValue("application/problem+json");

        Assert.Null(validator.Check("GET", "/shows/1/seats", 200, json,
            """{"show_id":1,"seq":3,"currency":"EUR","currency_exponent":2,"prices":{"economy":1500},"seats":[{"seat_id":9,"label":"1A","section":"main","row":"1","number":1,"category":"economy","x":0,"y":0,"state":"held","access":null}]}"""));
        Assert.Contains("status not declared", validator.Check("GET", "/shows/1/seats", 418, problem, """{"title":"teapot"}"""), StringComparison.Ordinal);
        Assert.Contains("/seats/0/x", validator.Check("GET", "/shows/1/seats", 200, json,
            """{"show_id":1,"seq":3,"currency":"EUR","currency_exponent":2,"prices":{},"seats":[{"seat_id":9,"label":"1A","section":"main","row":"1","number":1,"category":"economy","x":"left","y":0,"state":"held","access":null}]}"""), StringComparison.Ordinal);
        Assert.Contains("Required properties", validator.Check("POST", "/auth/login", 200, json, """{"access_token":"a"}"""), StringComparison.Ordinal);
        Assert.Contains("content type application/xml not declared", validator.Check("GET", "/newsletter/unsubscribe", 200,
            new System.Net.Http.Headers.MediaTypeHeaderValue("application/xml"), "<x/>"), StringComparison.Ordinal);
        Assert.Contains("a body", validator.Check("DELETE", "/holds/1", 204, json, "{}"), StringComparison.Ordinal);
        Assert.Contains("not documented", validator.Check("PUT", "/shows", 200, json, "{}"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_interactive_reference_is_served_at_docs()
    {
        using var client = App.CreateClient();
        using var page = await client.GetAsync("/docs");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        var html = await page.Content.ReadAsStringAsync();
        Assert.Contains("\"url\":\"openapi/v1.json\"", html, StringComparison.Ordinal);
        // The reference is self-contained: its script is served by the app, not fetched from a CDN.
        Assert.Contains("<script src=\"scalar.js\">", html, StringComparison.Ordinal);
        using var script = await client.GetAsync("/docs/scalar.js");
        Assert.Equal(HttpStatusCode.OK, script.StatusCode);
        Assert.True((await script.Content.ReadAsByteArrayAsync()).Length > 100_000);
    }

    [Fact]
    public async Task A_page_on_a_configured_origin_passes_the_preflight_and_others_do_not()
    {
        using var client = App.CreateClient();
        async Task<HttpResponseMessage> PreflightAsync(string origin)
        {
            using var request = new HttpRequestMessage(HttpMethod.Options, "/shows/1/holds");
            request.Headers.Add("Origin", origin);
            request.Headers.Add("Access-Control-Request-Method", "POST");
            request.Headers.Add("Access-Control-Request-Headers", "authorization, content-type, idempotency-key");
            return await client.SendAsync(request);
        }

        using var allowed = await PreflightAsync(CorsFixture.Origin);
        Assert.Equal(HttpStatusCode.NoContent, allowed.StatusCode);
        Assert.Equal(CorsFixture.Origin, Assert.Single(allowed.Headers.GetValues("Access-Control-Allow-Origin")));
        Assert.Contains("POST", string.Join(",", allowed.Headers.GetValues("Access-Control-Allow-Methods")), StringComparison.Ordinal);

        using var refused = await PreflightAsync("https://elsewhere.example");
        Assert.False(refused.Headers.Contains("Access-Control-Allow-Origin"));

        // The simple request a browser then makes: the answer names the origin and exposes Location.
        using var search = new HttpRequestMessage(HttpMethod.Get, "/shows?origin=LHR");
        search.Headers.Add("Origin", CorsFixture.Origin);
        using var answer = await client.SendAsync(search);
        Assert.Equal(CorsFixture.Origin, Assert.Single(answer.Headers.GetValues("Access-Control-Allow-Origin")));
        Assert.Contains("Location", string.Join(",", answer.Headers.GetValues("Access-Control-Expose-Headers")), StringComparison.Ordinal);
    }

    /// <summary>
    /// The committed copy of the document (docs/openapi/v1.json) is what the app serves, so a change
    /// to the public contract is a visible diff in review. After a deliberate change:
    /// <c>HOLDFAST_UPDATE_OPENAPI=1 dotnet test --filter The_served_document_is_the_committed_copy</c>.
    /// </summary>
    [Fact]
    public async Task The_served_document_is_the_committed_copy()
    {
        var served = (await DocumentAsync()).ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }).ReplaceLineEndings("\n") + "\n";
        var path = Path.Combine(Repository.Root, "docs", "openapi", "v1.json");
        if (Environment.GetEnvironmentVariable("HOLDFAST_UPDATE_OPENAPI") == "1")
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            await File.WriteAllTextAsync(path, served);
        }

        Assert.True(File.Exists(path), $"{path} is missing: run with HOLDFAST_UPDATE_OPENAPI=1 to write it");
        var committed = (await File.ReadAllTextAsync(path)).ReplaceLineEndings("\n");
        Assert.True(committed == served,
            "The OpenAPI document changed. If the change is meant, run with HOLDFAST_UPDATE_OPENAPI=1 and commit docs/openapi/v1.json.");
    }

    /// <summary>Redocly CLI's recommended rules (scripts/lint-openapi.sh) find no error in the committed document.</summary>
    [Fact]
    public async Task The_committed_document_passes_a_standard_linter()
    {
        var (exitCode, output) = await Repository.RunScriptAsync("lint-openapi.sh");
        Assert.True(exitCode == 0, $"lint-openapi.sh: {output}");
    }
}

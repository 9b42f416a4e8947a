using System.Reflection;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.OpenApi;
using Scalar.AspNetCore;

namespace Holdfast.Infrastructure.Http;

/// <summary>
/// The OpenAPI document at <c>/openapi/v1.json</c> (OpenAPI 3.1) and its interactive reference at
/// <c>/docs</c> (Scalar). What every operation shares is added here, from the endpoint's metadata,
/// so no slice can forget it: a unique schema name per record (a slice's nested <c>Request</c> is
/// <c>HoldSeatsRequest</c>, not one <c>Request</c> for all), an <c>operationId</c>, the bearer
/// security requirement with its 401 (and 403 where a role is required), 429 where a rate limit
/// applies and 503 with <c>Retry-After</c> everywhere (the database may be unreachable).
/// </summary>
public static class OpenApiSetup
{
    /// <summary>The security scheme's key in <c>components.securitySchemes</c>.</summary>
    public const string BearerScheme = "bearer";

    // Tag descriptions for the reference and generators (a standard linter asks for them).
    private static readonly Dictionary<string, string> TagDescriptions = new(StringComparer.Ordinal)
    {
        ["Accounts"] = "Register, log in (with an optional second factor), refresh and end sessions.",
        ["Admin"] = "User roles and the audit log (admins).",
        ["Bookings"] = "Check out a hold into a booking, read and cancel bookings.",
        ["Catalogue"] = "Events an organizer sells shows of.",
        ["Holds"] = "Hold seats for a few minutes while the customer checks out; release them.",
        ["Jobs"] = "The background job table: inspect, retry, cancel (admins).",
        ["Newsletter"] = "Double opt-in newsletter subscriptions and issues.",
        ["Notifications"] = "Notices to everyone booked on a show.",
        ["Payments"] = "PaymentIntents per checkout attempt, retries, and the Stripe webhook.",
        ["Places"] = "Cities and airports.",
        ["Push"] = "Web Push subscriptions (RFC 8030, VAPID).",
        ["Reports"] = "Sales and revenue for organizers.",
        ["Search"] = "Find shows by place, date and category.",
        ["Shows"] = "Shows, their seat maps (also live over Server-Sent Events) and their lifecycle.",
        ["Venues"] = "Venues and their seat layouts.",
    };

    /// <summary>Registers the document and its transformers.</summary>
    public static IServiceCollection AddHoldfastOpenApi(this IServiceCollection services) =>
        services.AddOpenApi(options =>
        {
            options.CreateSchemaReferenceId = SchemaReferenceId;
            options.AddDocumentTransformer((document, _, _) =>
            {
                document.Info = new OpenApiInfo
                {
                    Title = "Holdfast",
                    Version = "v1",
                    Description = "Seat booking: search shows, hold seats, book and pay, watch the seat map live (SSE). " +
                                  "Money is in minor units with an ISO 4217 currency; instants are UTC (RFC 3339). " +
                                  "Errors are RFC 9457 problem details.",
                };
                // The same document for every deployment: the server named is the local one of
                // scripts/run.sh, not whichever host served the document; a client sets its own.
                document.Servers = [new OpenApiServer { Url = "http://127.0.0.1:8080", Description = "scripts/run.sh on this machine; use your deployment's URL" }];
                document.Tags = new HashSet<OpenApiTag>(
                    TagDescriptions.Select(t => new OpenApiTag { Name = t.Key, Description = t.Value }));
                document.Components ??= new OpenApiComponents();
                document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
                document.Components.SecuritySchemes[BearerScheme] = new OpenApiSecurityScheme
                {
                    Type = SecuritySchemeType.Http,
                    Scheme = "bearer",
                    BearerFormat = "JWT",
                    Description = "The access token from POST /auth/login (or /auth/refresh): `Authorization: Bearer <token>`.",
                };
                return Task.CompletedTask;
            });
            options.AddOperationTransformer(DescribeSharedAsync);
            options.AddDocumentTransformer((document, _, _) =>
            {
                OptionalNullableRequestFields(document);
                return Task.CompletedTask;
            });
            options.AddSchemaTransformer((schema, context, _) =>
            {
                // Strings are read through StorableStringConverter (NUL refused at the edge), and a
                // custom converter makes the generator give up on the type: say what it is.
                if (context.JsonTypeInfo.Type == typeof(string) && schema.Type is null)
                {
                    schema.Type = context.JsonPropertyInfo is { IsGetNullable: true }
                        ? JsonSchemaType.String | JsonSchemaType.Null
                        : JsonSchemaType.String;
                }

                // A JsonElement is any JSON value; left as {} it also matches null, and the
                // generator's oneOf [null, JsonElement] for a JsonElement? then matches null twice.
                if (context.JsonTypeInfo.Type == typeof(System.Text.Json.JsonElement))
                {
                    schema.Type = JsonSchemaType.Object | JsonSchemaType.Array | JsonSchemaType.String | JsonSchemaType.Number | JsonSchemaType.Boolean;
                    schema.Description ??= "Any JSON value.";
                }

                return Task.CompletedTask;
            });
        });

    /// <summary>Serves the interactive reference at <c>/docs</c>, reading <c>/openapi/v1.json</c>.</summary>
    public static IEndpointRouteBuilder MapHoldfastOpenApi(this IEndpointRouteBuilder app)
    {
        app.MapOpenApi();
        app.MapScalarApiReference("/docs", o => o
            .WithTitle("Holdfast API")
            .WithOpenApiRoutePattern("/openapi/{documentName}.json")
            .AddPreferredSecuritySchemes(BearerScheme));
        return app;
    }

    /// <summary>
    /// A nested type is named with the types around it (<c>HoldSeats.Request</c> →
    /// <c>HoldSeatsRequest</c>): the slices all call their body <c>Request</c>, and ASP.NET Core's
    /// default names by the type alone, collapsing them into one schema.
    /// </summary>
    public static string? SchemaReferenceId(System.Text.Json.Serialization.Metadata.JsonTypeInfo type)
    {
        var id = OpenApiOptions.CreateDefaultSchemaReferenceId(type);
        return id is null ? null : WithOuterTypes(id, type.Type);
    }

    // The id prefixed with the names of the types around the type, innermost last.
    private static string WithOuterTypes(string id, Type type)
    {
        for (var outer = type.DeclaringType; outer is not null; outer = outer.DeclaringType)
        {
            id = outer.Name + id;
        }

        return id;
    }

    /// <summary>
    /// The operation id of an endpoint that has no name of its own: its handler method without
    /// <c>Async</c>, or, for a slice's single <c>HandleAsync</c>, the slice's name, in camelCase
    /// (<c>HoldSeats.HandleAsync</c> → <c>holdSeats</c>, <c>ManagePlaces.CreateCityAsync</c> → <c>createCity</c>).
    /// </summary>
    /// <remarks>
    /// A method name that several slices use (<c>SubscribeAsync</c> in Newsletter and in
    /// PushSubscriptions) is prefixed with its slice's name (<c>newsletterSubscribe</c>), as given by
    /// <paramref name="sharedNames"/>.
    /// </remarks>
    public static string? OperationId(MethodInfo? handler, IReadOnlySet<string> sharedNames)
    {
        if (handler is null || handler.DeclaringType is null)
        {
            return null;
        }

        var name = ShortName(handler);
        if (sharedNames.Contains(name))
        {
            name = handler.DeclaringType.Name + name;
        }

        return char.ToLowerInvariant(name[0]) + name[1..];
    }

    // A lambda handler has no name: the method and the route's literal segments
    // (POST admin/jobs/{jobId}/retry → postAdminJobsRetry).
    private static string RouteOperationId(string? method, string? path)
    {
        var words = (path ?? "").Split('/', StringSplitOptions.RemoveEmptyEntries).Where(w => !w.StartsWith('{'))
            .SelectMany(w => w.Split('-'))
            .Select(w => char.ToUpperInvariant(w[0]) + w[1..]);
        return (method ?? "get").ToLowerInvariant() + string.Concat(words);
    }

    // The handler's own name: the method without Async, or the slice's name for HandleAsync.
    private static string ShortName(MethodInfo handler)
    {
        var name = handler.Name is "HandleAsync" or "Handle" ? handler.DeclaringType!.Name : handler.Name;
        return name.EndsWith("Async", StringComparison.Ordinal) ? name[..^"Async".Length] : name;
    }

    // Short names that more than one slice's handlers have, over every endpoint of the app:
    // worked out once per app, not once per operation.
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<IServiceProvider, HashSet<string>> SharedNamesByApp = [];

    private static HashSet<string> SharedNames(IServiceProvider services) =>
        SharedNamesByApp.GetValue(services, FindSharedNames);

    private static HashSet<string> FindSharedNames(IServiceProvider services) =>
        services.GetRequiredService<EndpointDataSource>().Endpoints
            .Select(e => e.Metadata.OfType<MethodInfo>().FirstOrDefault())
            .Where(m => m?.DeclaringType is not null)
            .GroupBy(m => ShortName(m!))
            .Where(g => g.Select(m => m!.DeclaringType).Distinct().Count() > 1)
            .Select(g => g.Key)
            .ToHashSet(StringComparer.Ordinal);

    private static async Task DescribeSharedAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        var metadata = context.Description.ActionDescriptor.EndpointMetadata;
        var handler = metadata.OfType<MethodInfo>().FirstOrDefault();
        operation.OperationId ??= handler is { Name: ['<', ..] }
            ? RouteOperationId(context.Description.HttpMethod, context.Description.RelativePath)
            : OperationId(handler, SharedNames(context.ApplicationServices));
        operation.Responses ??= [];
        var problem = await SharedSchemaAsync(context, typeof(ProblemDetails), cancellationToken);
        await DescribeAlternativesAsync(operation, context, metadata, cancellationToken);

        // The slice's own reasons first, so its description wins over the shared one below.
        foreach (var declared in metadata.OfType<ProblemResponseMetadata>())
        {
            Declare(operation, declared.StatusCode, declared.Description, problem,
                retryAfter: declared.StatusCode is StatusCodes.Status429TooManyRequests or StatusCodes.Status503ServiceUnavailable);
        }

        if (metadata.OfType<ETagResponseMetadata>().Any())
        {
            DescribeETag(operation);
        }

        if (metadata.OfType<RequestExampleMetadata>().FirstOrDefault() is { } example
            && operation.RequestBody?.Content?.TryGetValue("application/json", out var body) == true)
        {
            body.Example = System.Text.Json.Nodes.JsonNode.Parse(example.Json);
        }

        // [AllowedValues("a", "b", null)] on a bound parameter is its enum (the generator reads [Range] but not this).
        foreach (var described in context.Description.ParameterDescriptions)
        {
            if (described.ParameterDescriptor is Microsoft.AspNetCore.Mvc.Infrastructure.IParameterInfoParameterDescriptor { ParameterInfo: var info }
                && info.GetCustomAttributes(typeof(System.ComponentModel.DataAnnotations.AllowedValuesAttribute), false) is [System.ComponentModel.DataAnnotations.AllowedValuesAttribute allowed]
                && operation.Parameters?.FirstOrDefault(p => p.Name == described.Name) is OpenApiParameter { Schema: OpenApiSchema schema })
            {
                schema.Enum = [.. allowed.Values.OfType<string>().Select(v => (System.Text.Json.Nodes.JsonNode)System.Text.Json.Nodes.JsonValue.Create(v))];
            }
        }

        foreach (var query in metadata.OfType<QueryParameterMetadata>())
        {
            operation.Parameters ??= [];
            operation.Parameters.Add(new OpenApiParameter
            {
                Name = query.Name,
                In = ParameterLocation.Query,
                Description = query.Description,
                Example = query.Example is null ? null : System.Text.Json.Nodes.JsonValue.Create(query.Example),
                Schema = new OpenApiSchema
                {
                    Type = query.Type == "integer" ? JsonSchemaType.Integer : JsonSchemaType.String,
                    Format = query.Format,
                    Minimum = query.Minimum?.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    Maximum = query.Maximum?.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    MaxLength = query.MaxLength,
                    Pattern = query.Pattern,
                    Enum = query.Enum?.Select(e => (System.Text.Json.Nodes.JsonNode)System.Text.Json.Nodes.JsonValue.Create(e)).ToList(),
                    Default = query.Default is null ? null
                        : query.Type == "integer" ? System.Text.Json.Nodes.JsonValue.Create(long.Parse(query.Default, System.Globalization.CultureInfo.InvariantCulture))
                        : System.Text.Json.Nodes.JsonValue.Create(query.Default),
                },
            });
        }

        var anonymous = metadata.OfType<IAllowAnonymous>().Any();
        var authorize = metadata.OfType<IAuthorizeData>().ToList();
        if (authorize.Count == 0 || anonymous)
        {
            operation.Security = []; // says "no token needed" rather than leaving it unsaid
        }
        else
        {
            operation.Security ??= [];
            operation.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(BearerScheme, context.Document)] = [] });
            Declare(operation, StatusCodes.Status401Unauthorized, "No valid access token (missing, expired, or its session ended).", problem);
            if (authorize.Any(a => !string.IsNullOrEmpty(a.Roles) || !string.IsNullOrEmpty(a.Policy)))
            {
                Declare(operation, StatusCodes.Status403Forbidden, "The caller's role does not allow this.", problem);
            }
        }

        // Binding failures (a malformed body, a route or query value of the wrong type) answer 400
        // (RouteHandlerOptions.ThrowOnBadRequest + problem details), and so does a NUL or an unpaired
        // surrogate in any query value or body, on every endpoint (StorableTextMiddleware).
        var validation = await SharedSchemaAsync(context, typeof(HttpValidationProblemDetails), cancellationToken);
        Declare(operation, StatusCodes.Status400BadRequest, "The request is not valid; `errors` names each wrong field.", validation);
        if (operation.RequestBody is not null)
        {
            Declare(operation, StatusCodes.Status413PayloadTooLarge, "The body is larger than this endpoint takes.", problem);
        }

        if (metadata.OfType<IdempotentAttribute>().Any())
        {
            DescribeIdempotency(operation, problem);
        }

        // An id in the path may name nothing, or something the caller may not see.
        if (context.Description.RelativePath?.Contains('{', StringComparison.Ordinal) == true)
        {
            Declare(operation, StatusCodes.Status404NotFound, "No such resource, or not one the caller may see.", problem);
        }

        if (metadata.OfType<EnableRateLimitingAttribute>().Any())
        {
            Declare(operation, StatusCodes.Status429TooManyRequests, "Too many requests; wait the seconds in `Retry-After`.", problem, retryAfter: true);
        }

        Declare(operation, StatusCodes.Status503ServiceUnavailable, "The database is unreachable; try again after `Retry-After` seconds.", problem, retryAfter: true);
    }

    // A reference to the type's schema in components (added once), so generated clients get one
    // problem type instead of one per operation and status.
    private static async Task<IOpenApiSchema> SharedSchemaAsync(OpenApiOperationTransformerContext context, Type type, CancellationToken cancellationToken)
    {
        var document = context.Document!;
        var name = ComponentName(type);
        if (document.Components?.Schemas?.ContainsKey(name) != true)
        {
            document.AddComponent(name, await context.GetOrCreateSchemaAsync(type, null, cancellationToken));
        }

        return new OpenApiSchemaReference(name, document);
    }

    // The component name SchemaReferenceId gives a (non-generic) type: Login.MfaChallenge → LoginMfaChallenge.
    private static string ComponentName(Type type) => WithOuterTypes(type.Name, type);

    /// <summary>
    /// A request record's nullable field may be left out: the slices bind bodies to records whose
    /// fields are nullable so that validation, not the JSON reader, names what is missing, and the
    /// generator marks every constructor parameter required. So in every schema a request body
    /// reaches, a field that allows null is made optional (responses keep theirs: there a null is
    /// always written).
    /// </summary>
    private static void OptionalNullableRequestFields(OpenApiDocument document)
    {
        var components = document.Components?.Schemas;
        if (components is null)
        {
            return;
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        var pending = new Stack<IOpenApiSchema>(
            (document.Paths?.Values ?? Enumerable.Empty<IOpenApiPathItem>()).SelectMany(p => p.Operations?.Values ?? Enumerable.Empty<OpenApiOperation>())
            .SelectMany(o => o.RequestBody?.Content?.Values ?? []).Select(m => m.Schema).OfType<IOpenApiSchema>());
        while (pending.TryPop(out var schema))
        {
            if (schema is OpenApiSchemaReference reference)
            {
                if (reference.Reference.Id is { } id && seen.Add(id) && components.TryGetValue(id, out var target))
                {
                    pending.Push(target);
                }

                continue;
            }

            if (schema is not OpenApiSchema concrete)
            {
                continue;
            }

            foreach (var (name, property) in concrete.Properties ?? new Dictionary<string, IOpenApiSchema>())
            {
                if (AllowsNull(property))
                {
                    concrete.Required?.Remove(name);
                }

                pending.Push(property);
            }

            foreach (var inner in new[] { concrete.Items, concrete.AdditionalProperties }.OfType<IOpenApiSchema>()
                         .Concat(concrete.OneOf ?? []).Concat(concrete.AnyOf ?? []).Concat(concrete.AllOf ?? []))
            {
                pending.Push(inner);
            }
        }
    }

    private static bool AllowsNull(IOpenApiSchema schema) =>
        (schema.Type?.HasFlag(JsonSchemaType.Null) ?? false) || (schema.OneOf?.Any(AllowsNull) ?? false) || (schema.AnyOf?.Any(AllowsNull) ?? false);

    // One status, several bodies (POST /auth/login answers 200 with a token pair or a second-factor
    // challenge): the generator keeps one of them; the document says "one of these".
    private static async Task DescribeAlternativesAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, IList<object> metadata, CancellationToken cancellationToken)
    {
        var byStatus = metadata.OfType<Microsoft.AspNetCore.Http.Metadata.IProducesResponseTypeMetadata>()
            .Where(p => p.Type is not null && p.Type != typeof(void) && !typeof(ProblemDetails).IsAssignableFrom(p.Type))
            .GroupBy(p => p.StatusCode)
            .Where(g => g.Select(p => p.Type).Distinct().Count() > 1);
        foreach (var alternatives in byStatus)
        {
            var schema = new OpenApiSchema { OneOf = [] };
            foreach (var type in alternatives.Select(p => p.Type!).Distinct())
            {
                schema.OneOf.Add(await SharedSchemaAsync(context, type, cancellationToken));
            }

            var key = alternatives.Key.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (operation.Responses!.TryGetValue(key, out var response) && response.Content is { } content && content.TryGetValue("application/json", out var media))
            {
                media.Schema = schema;
            }
        }
    }

    // Endpoints honouring Idempotency-Key (IdempotencyMiddleware): the header, and its 409 and 422.
    private static void DescribeIdempotency(OpenApiOperation operation, IOpenApiSchema problem)
    {
        operation.Parameters ??= [];
        operation.Parameters.Add(new OpenApiParameter
        {
            Name = IdempotencyMiddleware.Header,
            In = ParameterLocation.Header,
            Required = false,
            Description = "1 to 255 characters, unique per attempt (a UUID): a retry with the same key and body gets the first answer again " +
                          "(`Idempotent-Replayed: true`) instead of acting twice (draft-ietf-httpapi-idempotency-key-header).",
            Schema = new OpenApiSchema { Type = JsonSchemaType.String, MinLength = 1, MaxLength = 255 },
        });
        const string inFlight = "A request with this `Idempotency-Key` is still being processed; retry shortly.";
        if (operation.Responses!.TryGetValue("409", out var conflict) && conflict is OpenApiResponse declared)
        {
            declared.Description += " Or: " + inFlight;
        }
        else
        {
            Declare(operation, StatusCodes.Status409Conflict, inFlight, problem);
        }

        Declare(operation, StatusCodes.Status422UnprocessableEntity, "This `Idempotency-Key` was used with a different request.", problem);
    }

    // The 200 answer's ETag header and the 304 answer (no body) to a matching If-None-Match.
    private static void DescribeETag(OpenApiOperation operation)
    {
        if (operation.Responses!.TryGetValue("200", out var ok) && ok is OpenApiResponse okResponse)
        {
            okResponse.Headers ??= new Dictionary<string, IOpenApiHeader>();
            okResponse.Headers["ETag"] = new OpenApiHeader
            {
                Description = "The answer's version; send it back in `If-None-Match` to get 304 while it is current (RFC 9110 §8.8.3).",
                Schema = new OpenApiSchema { Type = JsonSchemaType.String },
            };
        }

        operation.Responses["304"] = new OpenApiResponse { Description = "Not modified: the `If-None-Match` ETag is still current; no body." };
    }

    private static void Declare(OpenApiOperation operation, int status, string description, IOpenApiSchema problem, bool retryAfter = false)
    {
        var key = status.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (operation.Responses!.ContainsKey(key))
        {
            return;
        }

        var response = new OpenApiResponse
        {
            Description = description,
            Content = new Dictionary<string, OpenApiMediaType> { ["application/problem+json"] = new() { Schema = problem } },
        };
        if (retryAfter)
        {
            response.Headers = new Dictionary<string, IOpenApiHeader>
            {
                ["Retry-After"] = new OpenApiHeader
                {
                    Description = "Seconds to wait before retrying (RFC 9110 §10.2.3).",
                    Schema = new OpenApiSchema { Type = JsonSchemaType.Integer, Minimum = "1" },
                },
            };
        }

        operation.Responses[key] = response;
    }
}

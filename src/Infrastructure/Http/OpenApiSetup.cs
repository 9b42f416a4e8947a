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
        if (id is null)
        {
            return null;
        }

        for (var outer = type.Type.DeclaringType; outer is not null; outer = outer.DeclaringType)
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
        // for every endpoint that takes input (RouteHandlerOptions.ThrowOnBadRequest + problem details).
        if (operation.Parameters is { Count: > 0 } || operation.RequestBody is not null)
        {
            var validation = await SharedSchemaAsync(context, typeof(HttpValidationProblemDetails), cancellationToken);
            Declare(operation, StatusCodes.Status400BadRequest, "The request is not valid; `errors` names each wrong field.", validation);
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
        if (document.Components?.Schemas?.ContainsKey(type.Name) != true)
        {
            document.AddComponent(type.Name, await context.GetOrCreateSchemaAsync(type, null, cancellationToken));
        }

        return new OpenApiSchemaReference(type.Name, document);
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

using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;

namespace Holdfast.Infrastructure.Http;

/// <summary>
/// Every error leaves as RFC 9457 problem details (<c>application/problem+json</c>). Malformed bodies
/// and unbindable parameters become 400 with an <c>errors</c> map naming the field; anything
/// unexpected becomes a 500 without internals.
/// </summary>
public static class ProblemDetailsSetup
{
    /// <summary>
    /// Registers problem details and the exception handler that turns binding failures into 400s.
    /// Binding failures throw in every environment (ASP.NET Core throws only in Development by
    /// default, and elsewhere answers a bare 400 that cannot name the field).
    /// </summary>
    public static IServiceCollection AddHoldfastProblemDetails(this IServiceCollection services)
    {
        services.Configure<Microsoft.AspNetCore.Routing.RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        services.AddProblemDetails(options => options.CustomizeProblemDetails = context =>
        {
            context.ProblemDetails.Extensions.TryAdd("trace_id", context.HttpContext.TraceIdentifier);
            // A body over the endpoint's limit is refused wherever it is noticed (by us up front, by
            // the server, or by minimal APIs reading the body, which answer a bare 413): one shape.
            if (context.ProblemDetails.Status == StatusCodes.Status413PayloadTooLarge)
            {
                var limit = RequestBodyLimits.LimitOf(context.HttpContext);
                context.ProblemDetails.Title = "The request body is too large.";
                string[] reason = [limit is null ? "The body is larger than this endpoint takes." : $"The body is larger than this endpoint takes ({limit} bytes)."];
                if (context.ProblemDetails is HttpValidationProblemDetails validation)
                {
                    validation.Errors.Clear();
                    validation.Errors["body"] = reason;
                }
                else
                {
                    context.ProblemDetails.Extensions["errors"] = new Dictionary<string, string[]> { ["body"] = reason };
                }
            }
        });
        services.AddExceptionHandler<BadRequestExceptionHandler>();
        return services;
    }

    /// <summary>Adds the exception handler and status-code pages so even a bare 404/405 is problem details.</summary>
    public static WebApplication UseHoldfastProblemDetails(this WebApplication app)
    {
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        return app;
    }
}

/// <summary>
/// Turns <see cref="BadHttpRequestException"/> (unreadable JSON, a wrong type, an unbindable query
/// value) into a 400 validation problem that names the offending field.
/// </summary>
internal sealed class BadRequestExceptionHandler(IProblemDetailsService problemDetails) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        if (exception is not BadHttpRequestException badRequest)
        {
            return false;
        }

        var (field, reason) = Describe(badRequest);
        var problem = new HttpValidationProblemDetails(new Dictionary<string, string[]> { [field] = [reason] })
        {
            Status = badRequest.StatusCode,
            Title = badRequest.StatusCode switch
            {
                StatusCodes.Status400BadRequest => "The request is not valid.",
                StatusCodes.Status413PayloadTooLarge => "The request body is too large.",
                _ => "The request could not be read.",
            },
        };
        httpContext.Response.StatusCode = badRequest.StatusCode;
        return await problemDetails.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = httpContext,
            ProblemDetails = problem,
            Exception = exception,
        });
    }

    private static (string Field, string Reason) Describe(BadHttpRequestException exception)
    {
        if (exception.InnerException is JsonException json)
        {
            // Path is like "$.seats[1]" or "$.quantity"; report it without the "$." root.
            var path = json.Path is null or "$" ? "body" : json.Path.TrimStart('$', '.');
            return (path, json is UnstorableTextException ? json.Message : "The value is not valid JSON of the expected type.");
        }

        // ASP.NET Core says: Failed to bind parameter "int limit" from "abc".
        var message = exception.Message;
        var start = message.IndexOf('"', StringComparison.Ordinal);
        var end = start < 0 ? -1 : message.IndexOf('"', start + 1);
        if (start >= 0 && end > start)
        {
            var declaration = message[(start + 1)..end];
            var name = declaration[(declaration.LastIndexOf(' ') + 1)..];
            return (name, message);
        }

        return ("body", message);
    }
}

using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Mvc;

namespace Holdfast.Infrastructure.Http;

/// <summary>
/// Text PostgreSQL can store: no U+0000 (its <c>text</c> type cannot hold NUL; the server answers
/// 22021) and no unpaired UTF-16 surrogate (not encodable as UTF-8). Checked in one place for
/// every endpoint: JSON strings by <see cref="StorableStringConverter"/>, query values and headers
/// by <see cref="StorableTextMiddleware"/>; either way the answer is a 400 naming the field.
/// </summary>
public static class StorableText
{
    /// <summary>Why <paramref name="value"/> cannot be stored, or null when it can.</summary>
    public static string? Problem(ReadOnlySpan<char> value)
    {
        if (value.Contains('\0'))
        {
            return "The value contains U+0000 (NUL), which cannot be stored.";
        }

        var i = value.IndexOfAnyInRange('\uD800', '\uDFFF');
        while (i >= 0)
        {
            if (!char.IsHighSurrogate(value[i]) || i + 1 >= value.Length || !char.IsLowSurrogate(value[i + 1]))
            {
                return "The value contains an unpaired UTF-16 surrogate, which is not valid Unicode text.";
            }

            var next = value[(i + 2)..].IndexOfAnyInRange('\uD800', '\uDFFF');
            i = next < 0 ? -1 : i + 2 + next;
        }

        return null;
    }
}

/// <summary>Raised while reading a JSON string that cannot be stored; the 400 carries its message.</summary>
public sealed class UnstorableTextException(string message) : JsonException(message);

/// <summary>
/// Reads every JSON string of every request body and refuses text PostgreSQL cannot store (see
/// <see cref="StorableText"/>) before any handler sees it. Writing is unchanged.
/// </summary>
public sealed class StorableStringConverter : JsonConverter<string>
{
    /// <inheritdoc />
    public override string? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        var value = reader.GetString();
        if (value is not null && StorableText.Problem(value) is { } problem)
        {
            throw new UnstorableTextException(problem);
        }

        return value;
    }

    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, string value, JsonSerializerOptions options) => writer.WriteStringValue(value);
}

/// <summary>
/// Refuses a request whose query values or <c>Idempotency-Key</c> header hold text PostgreSQL
/// cannot store, with a 400 validation problem naming the parameter, before routing to a handler.
/// </summary>
public sealed class StorableTextMiddleware(RequestDelegate next)
{
    /// <summary>Checks the query string and the headers that are stored, then calls the next middleware.</summary>
    public async Task InvokeAsync(HttpContext context, IProblemDetailsService problemDetails)
    {
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        foreach (var (name, values) in context.Request.Query)
        {
            foreach (var value in values)
            {
                if (value is not null && StorableText.Problem(value) is { } problem)
                {
                    errors[name] = [problem];
                }
            }
        }

        if (context.Request.Headers.TryGetValue(IdempotencyMiddleware.Header, out var keys)
            && keys.ToString() is { } key && StorableText.Problem(key) is { } keyProblem)
        {
            errors[IdempotencyMiddleware.Header] = [keyProblem];
        }

        if (errors.Count == 0)
        {
            await next(context);
            return;
        }

        context.Response.StatusCode = StatusCodes.Status400BadRequest;
        await problemDetails.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            ProblemDetails = new HttpValidationProblemDetails(errors) { Status = StatusCodes.Status400BadRequest, Title = "The request is not valid." },
        });
    }
}

using System.ComponentModel.DataAnnotations;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.Metadata;

namespace Holdfast.Infrastructure.Http;

/// <summary>Settings under <c>Http</c> in configuration.</summary>
public sealed class HttpLimitsOptions
{
    /// <summary>
    /// Largest request body an endpoint takes unless it declares its own limit with
    /// <see cref="RequestBodyLimits.AcceptsBodyUpTo"/>, in bytes (default 65,536: every JSON command
    /// fits in a few kilobytes; a hold of 10 seats is under 200 bytes).
    /// </summary>
    [Range(1, 1L << 30)]
    public long MaxRequestBodyBytes { get; set; } = 64 * 1024;
}

/// <summary>
/// Request body limits per endpoint, enforced before anything reads the body: a declared
/// <c>Content-Length</c> over the limit is answered 413 at once; a chunked body is cut off (413) as
/// soon as it passes the limit, so a huge array is never materialised. Works the same under Kestrel
/// and the test server.
/// </summary>
public static class RequestBodyLimits
{
    private sealed record Limit(long? MaxRequestBodySize) : IRequestSizeLimitMetadata;

    /// <summary>Lets this endpoint take bodies up to <paramref name="bytes"/> (e.g. a seat layout, a webhook event).</summary>
    public static TBuilder AcceptsBodyUpTo<TBuilder>(this TBuilder builder, long bytes)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new Limit(bytes));

    /// <summary>Adds the limit middleware; call after routing so the endpoint's own limit is known.</summary>
    public static WebApplication UseRequestBodyLimits(this WebApplication app)
    {
        var defaultLimit = app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<HttpLimitsOptions>>().Value.MaxRequestBodyBytes;
        app.Use(async (context, next) =>
        {
            var limit = context.GetEndpoint()?.Metadata.GetMetadata<IRequestSizeLimitMetadata>()?.MaxRequestBodySize ?? defaultLimit;
            context.Items[ItemKey] = limit;
            if (context.Request.ContentLength > limit)
            {
                throw TooLarge(limit);
            }

            var feature = context.Features.Get<IHttpMaxRequestBodySizeFeature>();
            if (feature is { IsReadOnly: false })
            {
                feature.MaxRequestBodySize = limit;
            }

            context.Request.Body = new LimitedStream(context.Request.Body, limit);
            await next(context);
        });
        return app;
    }

    private static readonly object ItemKey = new();

    /// <summary>The body limit, in bytes, that applied to this request, if it got that far.</summary>
    public static long? LimitOf(HttpContext context) => context.Items.TryGetValue(ItemKey, out var limit) ? (long?)limit : null;

    internal static BadHttpRequestException TooLarge(long limit) =>
        new($"The request body is larger than this endpoint takes ({limit} bytes).", StatusCodes.Status413PayloadTooLarge);

    /// <summary>A read-only view of the request body that fails once more than its limit was read.</summary>
    private sealed class LimitedStream(Stream inner, long limit) : Stream
    {
        private long read;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => read; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Count(inner.Read(buffer, offset, count));

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            Count(await inner.ReadAsync(buffer, cancellationToken));

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        private int Count(int n)
        {
            read += n;
            return read > limit ? throw TooLarge(limit) : n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}

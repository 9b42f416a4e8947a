using System.Buffers.Binary;
using System.ComponentModel.DataAnnotations;
using System.Security.Cryptography;
using Carter;
using Holdfast.Infrastructure;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using Microsoft.OpenApi;
using Npgsql;

namespace Holdfast.Features.Events;

/// <summary>Settings under <c>Posters</c> in configuration.</summary>
public sealed class PosterOptions
{
    /// <summary>Largest poster accepted, in bytes (default 2 MiB = 2,097,152); a larger upload is answered 413.</summary>
    [Range(1024, 64L * 1024 * 1024)]
    public long MaxBytes { get; set; } = 2L * 1024 * 1024;
}

/// <summary>Registers <see cref="PosterOptions"/>.</summary>
public sealed class PosterServices : IConfigureServices
{
    /// <inheritdoc />
    public void ConfigureServices(IServiceCollection services, IConfiguration configuration) =>
        services.AddSettings<PosterOptions>("Posters");
}

/// <summary>
/// <c>PUT /events/{id}/poster</c>: the owning organizer or an admin uploads the event's poster as the
/// raw request body (PNG, JPEG or WebP, recognised by its magic bytes whatever <c>Content-Type</c>
/// says: anything else is 415; over <see cref="PosterOptions.MaxBytes"/> 413). The image is stored in
/// PostgreSQL keyed by its SHA-256, once however many events use it, and served by
/// <c>GET /posters/{sha256}</c> with <c>Cache-Control: public, max-age=31536000, immutable</c> and an
/// <c>ETag</c> of the hash (RFC 9111 §5.2.2, RFC 8246): a URL names one content for ever, so a
/// new poster is a new URL and no cache needs purging (decision 0026).
/// </summary>
public sealed class EventPoster : ICarterModule
{
    /// <summary>The stored poster.</summary>
    /// <param name="PosterUrl">Where it is served; the event's <c>poster_url</c>.</param>
    /// <param name="MediaType"><c>image/png</c>, <c>image/jpeg</c> or <c>image/webp</c>.</param>
    /// <param name="Width">Pixels.</param>
    /// <param name="Height">Pixels.</param>
    /// <param name="Bytes">Size of the image, in bytes.</param>
    public sealed record Response(string PosterUrl, string MediaType, int Width, int Height, int Bytes);

    /// <summary>An image recognised by its first bytes.</summary>
    /// <param name="MediaType">Its media type.</param>
    /// <param name="Width">Pixels, or 0 when the header could not be read.</param>
    /// <param name="Height">Pixels, or 0 when the header could not be read.</param>
    internal readonly record struct Sniffed(string MediaType, int Width, int Height);

    private const string ImmutableCaching = "public, max-age=31536000, immutable";

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app)
    {
        var maxBytes = app.ServiceProvider.GetRequiredService<IOptions<PosterOptions>>().Value.MaxBytes;
        app.MapPut("/events/{eventId:long}/poster", UploadAsync)
            .AcceptsBodyUpTo(maxBytes)
            .DeclaresProblem(StatusCodes.Status413PayloadTooLarge, $"The image is larger than `Posters:MaxBytes` ({maxBytes} bytes by default).")
            .DeclaresProblem(StatusCodes.Status415UnsupportedMediaType, "The body is not a PNG, JPEG or WebP image (by its magic bytes); `errors.body` says so.")
            .RequireAuthorization(Roles.Organizer)
            .WithTags("Catalogue")
            .WithSummary("Upload an event's poster")
            .WithDescription($"The owning organizer or an admin; 404 for anyone else. The body is the image itself (PNG, JPEG or WebP, up to {maxBytes} bytes " +
                             "by default; `Posters:MaxBytes`). 200 with its `poster_url`; 400 when the image header is unreadable; 413 when too large; " +
                             "415 when not one of those types. The same image uploaded twice is stored once.")
            .AddOpenApiOperationTransformer((operation, _, _) =>
            {
                // The image's bytes themselves. Declared here rather than with Accepts(), whose content-type
                // matching would answer a bare 415 before the magic bytes are looked at.
                operation.RequestBody = new OpenApiRequestBody
                {
                    Required = true,
                    Description = "The image: PNG, JPEG or WebP, recognised by its first bytes.",
                    Content = new Dictionary<string, OpenApiMediaType>
                    {
                        ["image/png"] = new() { Schema = new OpenApiSchema { Type = JsonSchemaType.String, Format = "binary" } },
                        ["image/jpeg"] = new() { Schema = new OpenApiSchema { Type = JsonSchemaType.String, Format = "binary" } },
                        ["image/webp"] = new() { Schema = new OpenApiSchema { Type = JsonSchemaType.String, Format = "binary" } },
                    },
                };
                return Task.CompletedTask;
            })
            .DisableAntiforgery();
        app.MapGet("/posters/{sha256}", ServeAsync)
            .WithTags("Catalogue")
            .WithSummary("Get a poster")
            .WithDescription("The image whose SHA-256 (64 lowercase hex digits) is in the path, as an event's `poster_url` names it. " +
                             "Cacheable for ever (`Cache-Control: public, max-age=31536000, immutable`); the `ETag` is the hash, and a matching " +
                             "`If-None-Match` gets 304. 404 for any other hash.")
            .Produces<byte[]>(StatusCodes.Status200OK, "image/png", "image/jpeg", "image/webp")
            .AddOpenApiOperationTransformer((operation, _, _) =>
            {
                foreach (var content in (operation.Responses?.TryGetValue("200", out var ok) == true ? ok.Content?.Values : null) ?? [])
                {
                    content.Schema = new OpenApiSchema { Type = JsonSchemaType.String, Format = "binary" };
                }

                return Task.CompletedTask;
            })
            .AnswersWithETag();
    }

    internal static async Task<Results<Ok<Response>, ProblemHttpResult>> UploadAsync(
        long eventId, HttpRequest request, HttpContext http, NpgsqlDataSource db, TimeProvider time, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        await request.Body.CopyToAsync(buffer, cancellationToken); // bounded by AcceptsBodyUpTo: past it, 413
        var image = buffer.ToArray();
        if (image.Length == 0)
        {
            return Problems.Field("body", "Required: the image itself, as the request body.");
        }

        if (Sniff(image) is not { } sniffed)
        {
            return TypedResults.Problem(new HttpValidationProblemDetails(new Dictionary<string, string[]>
            {
                ["body"] = ["Not a PNG, JPEG or WebP image: its first bytes match none of them."],
            })
            {
                Title = "Unsupported image type.",
                Status = StatusCodes.Status415UnsupportedMediaType,
            });
        }

        if (sniffed.Width is < 1 or > 20_000 || sniffed.Height is < 1 or > 20_000)
        {
            return Problems.Field("body", $"The {sniffed.MediaType} header is unreadable, or the image is not 1 to 20,000 pixels each way.");
        }

        var hash = SHA256.HashData(image);
        var hex = Convert.ToHexStringLower(hash);
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using var command = new NpgsqlCommand(StoreSql, connection);
        command.With("sha256", hash).With("media_type", sniffed.MediaType).With("width", sniffed.Width).With("height", sniffed.Height)
            .With("content", image).With("event_id", eventId).With("user_id", http.User.UserId()).With("is_admin", http.User.IsAdmin());
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            if (!await reader.ReadAsync(cancellationToken))
            {
                return Problems.NotFound("Event");
            }

            var before = reader.Get<string?>("before_hash");
            await reader.DisposeAsync();
            await AuditLog.RecordAsync(connection, http.User.UserId(), "event.poster_set", "event", eventId,
                new { PosterSha256 = before }, new { PosterSha256 = hex, sniffed.MediaType, sniffed.Width, sniffed.Height, Bytes = image.Length },
                time.GetUtcNow(), cancellationToken);
        }

        await Holdfast.Infrastructure.Caching.ReadCache.NotifyCatalogueChangedAsync(connection, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return TypedResults.Ok(new Response(GetEvent.PosterUrl(hex), sniffed.MediaType, sniffed.Width, sniffed.Height, image.Length));
    }

    internal static async Task<Results<FileContentHttpResult, StatusCodeHttpResult, ProblemHttpResult>> ServeAsync(
        string sha256, HttpContext http, NpgsqlDataSource db, CancellationToken cancellationToken)
    {
        if (sha256.Length != 64 || !sha256.All(char.IsAsciiHexDigitLower))
        {
            return Problems.NotFound("Poster");
        }

        // The hash is the content: a client holding this tag holds these bytes, without a query.
        var etag = $"\"{sha256}\"";
        if (EntityTagHeaderValue.TryParseList(http.Request.Headers.IfNoneMatch, out var tags) && tags.Any(t => t.Tag == etag || t.Tag == "*"))
        {
            await using var exists = db.CreateCommand("select exists (select 1 from poster_image where sha256 = @sha256)");
            exists.With("sha256", Convert.FromHexString(sha256));
            if ((bool)(await exists.ExecuteScalarAsync(cancellationToken))!)
            {
                SetCaching(http, etag);
                return TypedResults.StatusCode(StatusCodes.Status304NotModified);
            }
        }

        await using var command = db.CreateCommand("select media_type, content from poster_image where sha256 = @sha256");
        command.With("sha256", Convert.FromHexString(sha256));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return Problems.NotFound("Poster");
        }

        SetCaching(http, etag);
        http.Response.Headers.XContentTypeOptions = "nosniff";
        return TypedResults.File(reader.Get<byte[]>("content"), reader.Get<string>("media_type"));
    }

    private static void SetCaching(HttpContext http, string etag)
    {
        http.Response.Headers.ETag = etag;
        http.Response.Headers.CacheControl = ImmutableCaching;
    }

    /// <summary>
    /// The image type from its magic bytes, with its dimensions read from its header: PNG (signature
    /// and IHDR, ISO/IEC 15948 §5.2, §11.2.2), JPEG (SOI, then the first SOFn segment, ITU-T T.81
    /// §B.2) or WebP (RIFF container with a VP8, VP8L or VP8X first chunk, RFC 9649 §2.5–2.7). Null
    /// when the bytes are none of these.
    /// </summary>
    internal static Sniffed? Sniff(ReadOnlySpan<byte> data)
    {
        if (data.StartsWith((ReadOnlySpan<byte>)[0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]))
        {
            return data.Length >= 24 && data.Slice(12, 4).SequenceEqual("IHDR"u8)
                ? new Sniffed("image/png", (int)Math.Min(BinaryPrimitives.ReadUInt32BigEndian(data[16..]), int.MaxValue),
                    (int)Math.Min(BinaryPrimitives.ReadUInt32BigEndian(data[20..]), int.MaxValue))
                : new Sniffed("image/png", 0, 0);
        }

        if (data.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xD8, 0xFF]))
        {
            var (width, height) = JpegSize(data);
            return new Sniffed("image/jpeg", width, height);
        }

        if (data.Length >= 12 && data[..4].SequenceEqual("RIFF"u8) && data.Slice(8, 4).SequenceEqual("WEBP"u8))
        {
            var (width, height) = WebPSize(data);
            return new Sniffed("image/webp", width, height);
        }

        return null;
    }

    private static (int Width, int Height) JpegSize(ReadOnlySpan<byte> data)
    {
        var i = 2;
        while (i + 4 <= data.Length)
        {
            if (data[i] != 0xFF)
            {
                return (0, 0);
            }

            var marker = data[i + 1];
            if (marker == 0xFF)
            {
                i++; // fill byte
                continue;
            }

            if (marker is 0x01 or (>= 0xD0 and <= 0xD7))
            {
                i += 2; // standalone marker, no length
                continue;
            }

            var length = BinaryPrimitives.ReadUInt16BigEndian(data[(i + 2)..]);
            // SOF0–SOF15 except DHT (C4), JPG (C8) and DAC (CC): precision, height, width.
            if (marker is >= 0xC0 and <= 0xCF and not 0xC4 and not 0xC8 and not 0xCC)
            {
                return i + 9 <= data.Length
                    ? (BinaryPrimitives.ReadUInt16BigEndian(data[(i + 7)..]), BinaryPrimitives.ReadUInt16BigEndian(data[(i + 5)..]))
                    : (0, 0);
            }

            if (marker is 0xD9 or 0xDA || length < 2)
            {
                return (0, 0); // end of image or start of scan before any frame header
            }

            i += 2 + length;
        }

        return (0, 0);
    }

    private static (int Width, int Height) WebPSize(ReadOnlySpan<byte> data)
    {
        if (data.Length < 30)
        {
            return (0, 0);
        }

        var chunk = data.Slice(12, 4);
        if (chunk.SequenceEqual("VP8 "u8) && data[23] == 0x9D && data[24] == 0x01 && data[25] == 0x2A)
        {
            return (BinaryPrimitives.ReadUInt16LittleEndian(data[26..]) & 0x3FFF, BinaryPrimitives.ReadUInt16LittleEndian(data[28..]) & 0x3FFF);
        }

        if (chunk.SequenceEqual("VP8L"u8) && data[20] == 0x2F)
        {
            var bits = BinaryPrimitives.ReadUInt32LittleEndian(data[21..]);
            return ((int)(bits & 0x3FFF) + 1, (int)((bits >> 14) & 0x3FFF) + 1);
        }

        if (chunk.SequenceEqual("VP8X"u8))
        {
            return ((data[24] | (data[25] << 8) | (data[26] << 16)) + 1, (data[27] | (data[28] << 8) | (data[29] << 16)) + 1);
        }

        return (0, 0);
    }

    // The image once per content (a second upload of the same bytes finds it), then the event points
    // at it when it is the caller's; no row means not found, and the transaction then rolls back.
    private const string StoreSql = """
        with image as (
          insert into poster_image (sha256, media_type, width, height, content)
          values (@sha256, @media_type, @width, @height, @content)
          on conflict (sha256) do nothing
        ), previous as (
          select e.event_id, encode(e.poster_sha256, 'hex') as before_hash from event e
          where e.event_id = @event_id and (e.owner_app_user_id = @user_id or @is_admin)
          for update
        ), changed as (
          update event e set poster_sha256 = @sha256 from previous p where e.event_id = p.event_id
        )
        select before_hash from previous
        """;
}

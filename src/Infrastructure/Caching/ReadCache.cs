using System.Collections.Concurrent;
using System.ComponentModel.DataAnnotations;
using System.Security.Cryptography;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using Npgsql;

namespace Holdfast.Infrastructure.Caching;

/// <summary>Settings under <c>Cache</c> in configuration.</summary>
public sealed class ReadCacheOptions
{
    /// <summary>Serve cached search and show reads (default true).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// Longest life of an entry, in milliseconds (default 10000). Entries are dropped at once when a
    /// show they list changes; the lifetime only bounds how late a show that newly matches a search
    /// (seats freed elsewhere) can appear in it.
    /// </summary>
    [Range(1, 86_400_000)]
    public int LifetimeMilliseconds { get; set; } = 10_000;

    /// <summary>Most bytes of response bodies kept at once (default 256 MiB); beyond it, entries are evicted.</summary>
    [Range(1, long.MaxValue, ErrorMessage = "{0} must be at least 1.")]
    public long SizeLimitBytes { get; set; } = 256L * 1024 * 1024;
}

/// <summary>A cached response body and its entity tag.</summary>
/// <param name="Body">UTF-8 JSON.</param>
/// <param name="ETag">Strong entity tag (RFC 9110 §8.8.3) of <paramref name="Body"/>.</param>
public sealed record CachedResponse(byte[] Body, string ETag);

/// <summary>
/// The read cache of one node for search results, show details and seat maps. Each entry records the shows it
/// lists; a seat change of any of them (every node hears it on <c>holdfast_seat_events</c>) drops
/// it, and a catalogue change (<c>holdfast_catalogue</c>: a show created, moved, repriced or
/// cancelled) drops everything, so all nodes stay as fresh as the database within a notification.
/// </summary>
public sealed class ReadCache(IOptions<ReadCacheOptions> options) : IDisposable
{
    /// <summary>The NOTIFY channel for catalogue changes.</summary>
    public const string CatalogueChannel = "holdfast_catalogue";

    // Its own store, so dropping everything on a catalogue change touches nothing else.
    private readonly MemoryCache memory = new(new MemoryCacheOptions { SizeLimit = options.Value.SizeLimitBytes });
    private readonly ConcurrentDictionary<long, ConcurrentDictionary<string, byte>> keysByShow = new();
    private readonly ConcurrentDictionary<string, Lazy<Task<CachedResponse>>> building = new(StringComparer.Ordinal);

    // Every invalidation takes the next number; a build that started before a show's (or the
    // whole cache's) last invalidation may hold data older than it and is not kept.
    private readonly ConcurrentDictionary<long, long> showInvalidatedAt = new();
    private long invalidations;
    private long allInvalidatedAt;
    private long hits;
    private long misses;

    /// <summary>Hits and misses since start.</summary>
    public (long Hits, long Misses) Stats => (Interlocked.Read(ref hits), Interlocked.Read(ref misses));

    /// <summary>
    /// Returns the cached response for <paramref name="key"/>, or builds, stores and returns it.
    /// Concurrent misses of one key share one build (a thousand clients opening one seat map cost
    /// one query). The build runs without the caller's cancellation, since other callers may be
    /// waiting on it; <paramref name="cancellationToken"/> only stops this caller's wait.
    /// </summary>
    /// <param name="key">Identifies the read, e.g. the normalised query string.</param>
    /// <param name="build">Produces the body and the shows it depends on.</param>
    /// <param name="cancellationToken">Stops waiting (throws <see cref="OperationCanceledException"/>).</param>
    public async Task<CachedResponse> GetOrAddAsync(string key, Func<CancellationToken, Task<(byte[] Body, IEnumerable<long> Shows)>> build, CancellationToken cancellationToken)
    {
        if (!options.Value.Enabled)
        {
            Interlocked.Increment(ref misses);
            var (body, _) = await build(cancellationToken);
            return new CachedResponse(body, ETagOf(body));
        }

        if (memory.TryGetValue(key, out CachedResponse? cached) && cached is not null)
        {
            Interlocked.Increment(ref hits);
            return cached;
        }

        var flight = building.GetOrAdd(key, k => new Lazy<Task<CachedResponse>>(() => BuildAndStoreAsync(k, build)));
        return await flight.Value.WaitAsync(cancellationToken);
    }

    private async Task<CachedResponse> BuildAndStoreAsync(string key, Func<CancellationToken, Task<(byte[] Body, IEnumerable<long> Shows)>> build)
    {
        Interlocked.Increment(ref misses);
        var started = Interlocked.Read(ref invalidations);
        (byte[] Body, IEnumerable<long> Shows) built;
        try
        {
            built = await build(CancellationToken.None);
        }
        finally
        {
            // Only the stored flight of a key ever runs, so this removes our own.
            building.TryRemove(key, out _);
        }

        var (body, dependencies) = built;
        var shows = dependencies.ToArray();
        var response = new CachedResponse(body, ETagOf(body));

        // Publish, then look for an invalidation since the build began. An invalidation either
        // finds the published entry and drops it, or is seen here; it cannot slip between.
        foreach (var show in shows)
        {
            keysByShow.GetOrAdd(show, _ => new ConcurrentDictionary<string, byte>(StringComparer.Ordinal))[key] = 0;
        }

        memory.Set(key, response, new MemoryCacheEntryOptions
        {
            AbsoluteExpirationRelativeToNow = TimeSpan.FromMilliseconds(options.Value.LifetimeMilliseconds),
            Size = body.Length,
        });
        if (Interlocked.Read(ref allInvalidatedAt) > started
            || shows.Any(show => showInvalidatedAt.TryGetValue(show, out var at) && at > started))
        {
            memory.Remove(key);
        }

        return response;
    }

    private static string ETagOf(byte[] body) => "\"" + Convert.ToBase64String(SHA256.HashData(body).AsSpan(0, 12)) + "\"";

    /// <summary>Drops every entry that lists <paramref name="showId"/>.</summary>
    public void InvalidateShow(long showId)
    {
        showInvalidatedAt[showId] = Interlocked.Increment(ref invalidations);
        if (keysByShow.TryRemove(showId, out var keys))
        {
            foreach (var key in keys.Keys)
            {
                memory.Remove(key);
            }
        }
    }

    /// <summary>Drops everything (a catalogue change).</summary>
    public void InvalidateAll()
    {
        Interlocked.Exchange(ref allInvalidatedAt, Interlocked.Increment(ref invalidations));
        memory.Clear();
        keysByShow.Clear();
    }

    /// <inheritdoc />
    public void Dispose() => memory.Dispose();

    /// <summary>
    /// Writes <paramref name="response"/> with its <c>ETag</c>, or 304 Not Modified when the request's
    /// <c>If-None-Match</c> already names it (RFC 9110 §13.1.2).
    /// </summary>
    public static IResult Write(HttpContext http, CachedResponse response)
    {
        http.Response.Headers.ETag = response.ETag;
        http.Response.Headers.CacheControl = "no-cache";
        var ifNoneMatch = http.Request.Headers.IfNoneMatch;
        return ifNoneMatch.Count > 0 && EntityTagHeaderValue.TryParseList(ifNoneMatch, out var tags) && tags.Any(t => t.Tag == response.ETag || t.Tag == "*")
            ? TypedResults.StatusCode(StatusCodes.Status304NotModified)
            : TypedResults.Bytes(response.Body, "application/json");
    }

    /// <summary>
    /// Writes a JSON <paramref name="body"/> that is not cached (a list read straight from the
    /// database) with a strong <c>ETag</c> of its bytes, or 304 when <c>If-None-Match</c> names it:
    /// the client still saves the transfer, and the tag changes exactly when the body does.
    /// </summary>
    public static IResult WriteWithETag(HttpContext http, byte[] body) => Write(http, new CachedResponse(body, ETagOf(body)));

    /// <summary>Announces a catalogue change to every node's cache, at the commit of the caller's transaction.</summary>
    public static async Task NotifyCatalogueChangedAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand($"select pg_notify('{CatalogueChannel}', '')", connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}

using System.Security.Claims;
using System.Security.Cryptography;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Jobs;
using Microsoft.AspNetCore.Mvc;
using Npgsql;

namespace Holdfast.Infrastructure.Http;

/// <summary>Marks an endpoint as honouring the <c>Idempotency-Key</c> request header.</summary>
[AttributeUsage(AttributeTargets.Method | AttributeTargets.Class)]
public sealed class IdempotentAttribute : Attribute;

/// <summary>
/// <c>Idempotency-Key</c> for endpoints marked <see cref="IdempotentAttribute"/> (draft-ietf-httpapi-idempotency-key-header):
/// the first request with a key runs and its response (status, type, body) is stored in
/// <c>idempotency_key</c>; a retry with the same method, path and body gets that response again
/// (<c>Idempotent-Replayed: true</c>); with a different body, 422; while the first is still running,
/// 409. Keys are scoped to the caller (the account, or the client IP when anonymous) and pruned
/// after 24 h. A request that fails with a 5xx releases its key so it can be retried. A key in
/// flight is leased (<see cref="LeaseSeconds"/>, renewed while the request runs): if the node dies
/// mid-request, a retry with the same key and body takes it over once the lease lapses and runs
/// again (the handlers are idempotent on state), instead of getting 409 until the prune.
/// </summary>
public sealed class IdempotencyMiddleware(RequestDelegate next, NpgsqlDataSource db, TimeProvider time)
{
    /// <summary>The request header.</summary>
    public const string Header = "Idempotency-Key";

    /// <summary>Lease on a key in flight, in seconds (30); renewed every 10 s while its request runs.</summary>
    public const int LeaseSeconds = 30;

    /// <summary>Runs the request under its key.</summary>
    public async Task InvokeAsync(HttpContext http)
    {
        var key = http.Request.Headers[Header].FirstOrDefault();
        if (key is null || http.GetEndpoint()?.Metadata.GetMetadata<IdempotentAttribute>() is null)
        {
            await next(http);
            return;
        }

        if (key.Length is 0 or > 255)
        {
            await ProblemAsync(http, StatusCodes.Status400BadRequest, "Invalid Idempotency-Key.", "The Idempotency-Key header must be 1 to 255 characters.");
            return;
        }

        http.Request.EnableBuffering();
        using var body = new MemoryStream();
        await http.Request.Body.CopyToAsync(body, http.RequestAborted);
        http.Request.Body.Position = 0;
        var hash = SHA256.HashData(body.ToArray());
        var caller = RateLimiting.CallerKey(http);
        var path = http.Request.Path.Value ?? "";

        await using (var claim = db.CreateCommand(ClaimSql))
        {
            claim.With("caller", caller);
            claim.With("key", key);
            claim.With("method", http.Request.Method);
            claim.With("path", path);
            claim.With("hash", hash);
            claim.With("now", time.GetUtcNow());
            claim.With("locked_until", time.GetUtcNow().AddSeconds(LeaseSeconds));
            if (await claim.ExecuteScalarAsync(http.RequestAborted) is null)
            {
                await ReplayAsync(http, caller, key, path, hash);
                return;
            }
        }

        var original = http.Response.Body;
        using var captured = new MemoryStream();
        http.Response.Body = captured;
        using var done = new CancellationTokenSource();
        var renewing = RenewLeaseAsync(caller, key, done.Token);
        try
        {
            await next(http);
        }
        catch
        {
            await ReleaseAsync(caller, key);
            throw;
        }
        finally
        {
            http.Response.Body = original;
            await done.CancelAsync();
            await renewing;
        }

        if (http.Response.StatusCode >= 500)
        {
            await ReleaseAsync(caller, key);
        }
        else
        {
            await using var store = db.CreateCommand(StoreSql);
            store.With("caller", caller);
            store.With("key", key);
            store.With("status", http.Response.StatusCode);
            store.With("type", http.Response.ContentType);
            store.With("body", captured.ToArray());
            await store.ExecuteNonQueryAsync(CancellationToken.None);
        }

        captured.Position = 0;
        await captured.CopyToAsync(original, http.RequestAborted);
    }

    private async Task ReplayAsync(HttpContext http, string caller, string key, string path, byte[] hash)
    {
        await using var read = db.CreateCommand(ReadSql);
        read.With("caller", caller);
        read.With("key", key);
        await using var reader = await read.ExecuteReaderAsync(http.RequestAborted);
        if (!await reader.ReadAsync(http.RequestAborted))
        {
            // Released by a failed first attempt between our insert and this read: tell the client to retry.
            await ProblemAsync(http, StatusCodes.Status409Conflict, "Request in flight.", "A request with this Idempotency-Key is being processed; retry shortly.");
            return;
        }

        var (method, storedPath, storedHash) = (reader.Get<string>("method"), reader.Get<string>("path"), reader.Get<byte[]>("request_hash"));
        if (method != http.Request.Method || storedPath != path || !CryptographicOperations.FixedTimeEquals(storedHash, hash))
        {
            await ProblemAsync(http, StatusCodes.Status422UnprocessableEntity, "Idempotency-Key reused.",
                "This Idempotency-Key was used for a different request; use a new key for a new request.");
            return;
        }

        if (reader.Get<int?>("response_status") is not { } status)
        {
            await ProblemAsync(http, StatusCodes.Status409Conflict, "Request in flight.", "A request with this Idempotency-Key is being processed; retry shortly.");
            return;
        }

        http.Response.StatusCode = status;
        if (reader.Get<string?>("response_type") is { } contentType)
        {
            http.Response.ContentType = contentType;
        }

        http.Response.Headers["Idempotent-Replayed"] = "true";
        await http.Response.Body.WriteAsync(reader.Get<byte[]>("response_body"), http.RequestAborted);
    }

    // Keeps the key leased while its request runs. A failed renewal is not fatal: the next one may
    // land, and at worst the lease lapses and a retry runs the (idempotent) handler again.
    private async Task RenewLeaseAsync(string caller, string key, CancellationToken done)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(LeaseSeconds / 3), time);
        try
        {
            while (await timer.WaitForNextTickAsync(done))
            {
                try
                {
                    await using var renew = db.CreateCommand("update idempotency_key set locked_until = @locked_until where caller = @caller and key = @key and response_status is null");
                    renew.With("caller", caller);
                    renew.With("key", key);
                    renew.With("locked_until", time.GetUtcNow().AddSeconds(LeaseSeconds));
                    await renew.ExecuteNonQueryAsync(done);
                }
                catch (NpgsqlException)
                {
                    // Try again at the next tick.
                }
            }
        }
        catch (OperationCanceledException)
        {
            // The request finished.
        }
    }

    private async Task ReleaseAsync(string caller, string key)
    {
        await using var release = db.CreateCommand("delete from idempotency_key where caller = @caller and key = @key and response_status is null");
        release.With("caller", caller);
        release.With("key", key);
        await release.ExecuteNonQueryAsync(CancellationToken.None);
    }

    private static async Task ProblemAsync(HttpContext http, int status, string title, string detail)
    {
        http.Response.StatusCode = status;
        await http.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
        {
            HttpContext = http,
            ProblemDetails = new ProblemDetails { Status = status, Title = title, Detail = detail },
        });
    }

    // Returns a row only when this request claimed the key: a new key, or the same request (method,
    // path, body) whose earlier run died in flight and let its lease lapse.
    private const string ClaimSql = """
        insert into idempotency_key (caller, key, method, path, request_hash, created_at, locked_until)
        values (@caller, @key, @method, @path, @hash, @now, @locked_until)
        on conflict (caller, key) do update set locked_until = excluded.locked_until
        where idempotency_key.response_status is null
          and coalesce(idempotency_key.locked_until, '-infinity') < @now
          and (idempotency_key.method, idempotency_key.path, idempotency_key.request_hash) = (excluded.method, excluded.path, excluded.request_hash)
        returning 1
        """;

    private const string ReadSql = """
        select method, path, request_hash, response_status, response_type, response_body from idempotency_key where caller = @caller and key = @key
        """;

    private const string StoreSql = """
        update idempotency_key set response_status = @status, response_type = @type, response_body = @body where caller = @caller and key = @key
        """;
}

/// <summary>The <c>idempotency.prune</c> job (hourly): forgets keys older than 24 hours.</summary>
public sealed class PruneIdempotencyKeys(NpgsqlDataSource db, TimeProvider time) : JobHandler<PruneIdempotencyKeysArgs>
{
    /// <inheritdoc />
    public override async Task HandleAsync(JobContext job, PruneIdempotencyKeysArgs args, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand("delete from idempotency_key where created_at < @cutoff");
        command.With("cutoff", time.GetUtcNow().AddHours(-24));
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}

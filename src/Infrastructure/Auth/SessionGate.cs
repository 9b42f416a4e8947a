using System.Collections.Concurrent;
using System.Globalization;
using Holdfast.Infrastructure.Database;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Holdfast.Infrastructure.Auth;

/// <summary>
/// Decides, for every request with a valid access token, whether the token's session is still live
/// and its <c>role</c> claim still the account's role, so a logout, a revoked session, a password
/// change or a role change ends the tokens issued before it at once instead of when they expire.
/// </summary>
/// <remarks>
/// <para>
/// Each node keeps what it learned per account and session (live or not, the account's role) in
/// memory: a cache hit costs no database round trip. A miss costs one indexed query. Entries are
/// dropped when the node hears the account's id on <c>NOTIFY holdfast_sessions</c>, which triggers
/// on <c>refresh_token</c> (a session revoked or deleted) and <c>app_user</c> (a role changed, an
/// account deleted) send in the writing transaction, so every node hears of every change at its
/// commit, whoever made it (migration 0021, docs/decisions/0016-access-tokens-end-with-their-session.md).
/// </para>
/// <para>
/// A notification missed while the listening connection was down could leave a stale entry, so the
/// cache is used only while that connection listens, and is emptied whenever it (re)connects. Entries
/// also live at most <see cref="AuthOptions.SessionCacheSeconds"/>, as a backstop.
/// </para>
/// </remarks>
public sealed class SessionGate(NpgsqlDataSource dataSource, TimeProvider time, IOptions<AuthOptions> options, ILogger<SessionGate> logger)
    : BackgroundService
{
    /// <summary>The NOTIFY channel; the payload is the id of the account whose sessions or role changed.</summary>
    public const string ChannelName = "holdfast_sessions";

    // Account id → session id (Guid.Empty for a token without one) → what the database said.
    private readonly ConcurrentDictionary<long, ConcurrentDictionary<Guid, Entry>> accounts = new();
    private readonly TaskCompletionSource listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    // Every drop takes the next number; a read that began before a drop may hold what the drop
    // was about, and is not kept.
    private long invalidations;
    private long hits;
    private long misses;

    // True while the listening connection is up: only then can the cache hear of every change.
    private volatile bool listeningNow;

    /// <summary>Completes once the first LISTEN is in place (before it, every check reads the database).</summary>
    public Task Listening => listening.Task;

    /// <summary>True while the listening connection is up (the cache is used only then).</summary>
    public bool IsListening => listeningNow;

    /// <summary>Checks answered from memory and from the database since start.</summary>
    public (long Hits, long Misses) Stats => (Interlocked.Read(ref hits), Interlocked.Read(ref misses));

    /// <summary>
    /// True when account <paramref name="userId"/> exists, has role <paramref name="role"/>, and
    /// session <paramref name="sessionId"/> (when given) is one of its sessions and not revoked.
    /// </summary>
    /// <exception cref="NpgsqlException">The database could not be asked (on a cache miss).</exception>
    public async ValueTask<bool> AdmitsAsync(long userId, Guid? sessionId, string? role, CancellationToken cancellationToken)
    {
        var key = sessionId ?? Guid.Empty;
        if (listeningNow && accounts.TryGetValue(userId, out var sessions) && sessions.TryGetValue(key, out var cached)
            && time.GetTimestamp() < cached.ExpiresAt)
        {
            Interlocked.Increment(ref hits);
            return cached.Admits(role);
        }

        Interlocked.Increment(ref misses);
        var trusted = listeningNow;
        var started = Interlocked.Read(ref invalidations);
        var entry = await ReadAsync(userId, sessionId, cancellationToken);
        var lifetime = options.Value.SessionCacheSeconds;
        if (trusted && lifetime > 0)
        {
            entry = entry with { ExpiresAt = time.GetTimestamp() + (lifetime * time.TimestampFrequency) };
            var stored = accounts.GetOrAdd(userId, _ => new ConcurrentDictionary<Guid, Entry>());
            stored[key] = entry;

            // Publish, then look for a drop since the read began: a drop either finds the entry
            // published and removes it, or is seen here; it cannot slip between.
            if (Interlocked.Read(ref invalidations) != started)
            {
                stored.TryRemove(key, out _);
            }
        }

        return entry.Admits(role);
    }

    /// <summary>
    /// Drops what this node knows of account <paramref name="userId"/>. A writer that revoked a
    /// session or changed a role calls it after its commit, so the very next request on this node
    /// reads the change; other nodes hear of it through the notification the commit sends.
    /// </summary>
    public void Forget(long userId)
    {
        Interlocked.Increment(ref invalidations);
        accounts.TryRemove(userId, out _);
    }

    private void ForgetAll()
    {
        Interlocked.Increment(ref invalidations);
        accounts.Clear();
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var sweep = SweepAsync(stoppingToken);
        try
        {
            await ListenAsync(stoppingToken);
        }
        finally
        {
            listeningNow = false;
            await sweep;
        }
    }

    private Task ListenAsync(CancellationToken stoppingToken) =>
        Database.NotificationListener.RunAsync(dataSource, [ChannelName], e => OnNotification(e.Payload),
            onListening: () =>
            {
                // What changed while nobody listened is unknown: start afresh.
                ForgetAll();
                listeningNow = true;
                listening.TrySetResult();
            },
            onLost: () =>
            {
                // Until LISTEN is back, every check reads the database.
                listeningNow = false;
                ForgetAll();
            },
            "Session listener", logger, time, stoppingToken);

    private void OnNotification(string payload)
    {
        if (long.TryParse(payload, NumberStyles.None, CultureInfo.InvariantCulture, out var userId))
        {
            Forget(userId);
        }
        else
        {
            // Not ours to read, so it may be about anyone.
            logger.LogWarning("Unreadable session notification {Payload}; dropping every cached session", payload);
            ForgetAll();
        }
    }

    // Takes out expired entries now and then, so sessions that went quiet do not stay in memory.
    private async Task SweepAsync(CancellationToken stoppingToken)
    {
        var period = TimeSpan.FromSeconds(Math.Max(options.Value.SessionCacheSeconds, 1));
        using var timer = new PeriodicTimer(period, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                var now = time.GetTimestamp();
                foreach (var (userId, sessions) in accounts)
                {
                    foreach (var (sessionId, entry) in sessions)
                    {
                        if (entry.ExpiresAt <= now)
                        {
                            sessions.TryRemove(new KeyValuePair<Guid, Entry>(sessionId, entry));
                        }
                    }

                    if (sessions.IsEmpty)
                    {
                        accounts.TryRemove(new KeyValuePair<long, ConcurrentDictionary<Guid, Entry>>(userId, sessions));
                    }
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task<Entry> ReadAsync(long userId, Guid? sessionId, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(CheckSql);
        command.With("user_id", userId);
        command.With("session_id", sessionId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? new Entry(reader.Get<bool>("live"), reader.Get<string>("role"), 0)
            : new Entry(false, null, 0);
    }

    private readonly record struct Entry(bool Live, string? Role, long ExpiresAt)
    {
        public bool Admits(string? role) => Live && role is not null && string.Equals(Role, role, StringComparison.Ordinal);
    }

    // One row while the account exists (app_user_pk): its role, and whether the session may still
    // be used. Nothing of a disabled account may be used (migration 0035). A session is a refresh-token family (refresh_token_family_idx); it is live while it
    // belongs to the account and none of its tokens is revoked. Expiry of its refresh token does not
    // end it: access tokens issued before then expire on their own. A token without a session
    // (none is issued outside tests) has only its role checked.
    private const string CheckSql = """
        select u.role,
               u.disabled_at is null
               and (@session_id::uuid is null
               or coalesce((select bool_and(t.revoked_at is null)
                            from refresh_token t
                            where t.family_id = @session_id and t.app_user_id = u.app_user_id), false)) as live
        from app_user u
        where u.app_user_id = @user_id
        """;
}

using Holdfast.Infrastructure.SeatFeed;
using Npgsql;

namespace Holdfast.Features.Inventory;

/// <summary>
/// The transaction every change of seat state runs in. Each <see cref="SeatInventory"/> operation
/// that appends to a show's seat feed records the show here; <see cref="CommitAsync"/> commits and
/// then announces each recorded show once (<see cref="SeatFeedAnnouncer.Changed"/>). So "announce
/// after commit" holds by construction, not by each writer remembering it
/// (docs/decisions/0019-inventory-and-typed-jobs.md, superseding that part of decision 0009).
/// A transaction disposed without a commit rolls back and announces nothing.
/// </summary>
public sealed class SeatTransaction : IAsyncDisposable
{
    private readonly SeatFeedAnnouncer announcer;
    private readonly NpgsqlTransaction? transaction;
    private readonly bool ownsConnection;
    private readonly HashSet<long> changed = [];
    private bool committed;

    private SeatTransaction(NpgsqlConnection connection, NpgsqlTransaction? transaction, SeatFeedAnnouncer announcer, bool ownsConnection)
    {
        Connection = connection;
        this.transaction = transaction;
        this.announcer = announcer;
        this.ownsConnection = ownsConnection;
    }

    /// <summary>The connection; slices run their own statements of the same transaction on it.</summary>
    public NpgsqlConnection Connection { get; }

    /// <summary>Begins a transaction on <paramref name="connection"/>, which the caller keeps owning.</summary>
    public static async Task<SeatTransaction> BeginAsync(NpgsqlConnection connection, SeatFeedAnnouncer announcer, CancellationToken cancellationToken) =>
        new(connection, await connection.BeginTransactionAsync(cancellationToken), announcer, ownsConnection: false);

    /// <summary>Opens a connection of <paramref name="db"/> and begins a transaction on it; both end with this object.</summary>
    public static async Task<SeatTransaction> OpenAsync(NpgsqlDataSource db, SeatFeedAnnouncer announcer, CancellationToken cancellationToken)
    {
        var connection = await db.OpenConnectionAsync(cancellationToken);
        try
        {
            return new(connection, await connection.BeginTransactionAsync(cancellationToken), announcer, ownsConnection: true);
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// No explicit transaction: each <see cref="SeatInventory"/> operation is one statement (or one
    /// batch, an implicit transaction) that has committed when it returns, so its change is announced
    /// at once. For the paths that are one round trip by design (release, expiry; decision 0008).
    /// </summary>
    public static SeatTransaction Autocommit(NpgsqlConnection connection, SeatFeedAnnouncer announcer) =>
        new(connection, null, announcer, ownsConnection: false);

    /// <summary>Records that <paramref name="showId"/>'s seat feed changed in this transaction.</summary>
    internal void Changed(long showId)
    {
        if (transaction is null)
        {
            announcer.Changed(showId); // the statement was its own transaction and has committed
        }
        else
        {
            changed.Add(showId);
        }
    }

    /// <summary>Commits, then announces every show whose seats changed.</summary>
    public async Task CommitAsync(CancellationToken cancellationToken)
    {
        if (transaction is not null)
        {
            await transaction.CommitAsync(cancellationToken);
        }

        committed = true;
        foreach (var showId in changed)
        {
            announcer.Changed(showId);
        }

        changed.Clear();
    }

    /// <summary>Rolls back; nothing is announced.</summary>
    public async Task RollbackAsync(CancellationToken cancellationToken)
    {
        changed.Clear();
        if (transaction is not null && !committed)
        {
            await transaction.RollbackAsync(cancellationToken);
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (transaction is not null)
        {
            await transaction.DisposeAsync(); // rolls back when not committed
        }

        if (ownsConnection)
        {
            await Connection.DisposeAsync();
        }
    }
}

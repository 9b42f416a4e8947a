using Holdfast.Infrastructure.Database;
using Npgsql;

namespace Holdfast.Features.Inventory;

/// <summary>The inventory's part in deleting a venue (<c>DELETE /venues/{id}</c>), in its own file beside <c>SeatInventory.cs</c>.</summary>
public static partial class SeatInventory
{
    /// <summary>
    /// Deletes the seat map of a venue no show used, in the caller's transaction, before the caller
    /// deletes the venue. When a show of the venue has stocked these seats, <c>show_seat_seat_fk</c>
    /// refuses (a <see cref="PostgresException"/> with SQL state 23503) and nothing is deleted; a
    /// show created concurrently waits on the seat rows' locks and then fails on the missing venue
    /// or seats, so no show is left without its seat map.
    /// </summary>
    /// <returns>The number of seats deleted.</returns>
    public static async Task<int> DeleteVenueSeatsAsync(NpgsqlConnection connection, long venueId, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(DeleteVenueSeatsSql, connection).With("venue_id", venueId);
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    // Seat rows only: a venue whose seats are stocked in any show keeps them (the foreign key decides).
    private const string DeleteVenueSeatsSql = "delete from seat where venue_id = @venue_id";
}

using Npgsql;

namespace Holdfast.Tests.Infrastructure;

/// <summary>The ids of a show built by <see cref="TestCatalogue.ShowAsync"/>.</summary>
public sealed record TestShow(long ShowId, long VenueId, long EventId, IReadOnlyList<string> Labels);

/// <summary>
/// Arranges catalogue rows in SQL: a venue with a simple grid seat map, an event, and a show on sale
/// with prices and a seat feed. The catalogue API (<c>POST /venues</c>, <c>/events</c>, <c>/shows</c>,
/// <c>/airports</c>, <c>/cities</c>) builds the same rows through an organizer's or admin's requests
/// and is tested in Features/Venues, Features/Shows and Features/Places; tests about something else
/// arrange here in one statement, with any currency, kind, start or owner, and a show already on sale.
/// </summary>
public static class TestCatalogue
{
    /// <summary>
    /// A show of <paramref name="rows"/> × <paramref name="seatsPerRow"/> seats labelled 1A, 1B, …;
    /// rows up to <paramref name="premiumRows"/> are <c>premium</c> (price 5000), the rest
    /// <c>standard</c> (price 2000), in GBP.
    /// </summary>
    public static async Task<TestShow> ShowAsync(
        NpgsqlDataSource db, int rows = 5, int seatsPerRow = 6, int premiumRows = 1, DateTimeOffset? startsAt = null,
        string timeZone = "Europe/London", string kind = "film", string? originIata = null, string? destinationIata = null, string currency = "GBP",
        long? ownerId = null)
    {
        await using var connection = await db.OpenConnectionAsync();
        await using var command = new NpgsqlCommand(ShowSql, connection);
        command.Parameters.AddWithValue("rows", rows);
        command.Parameters.AddWithValue("per_row", seatsPerRow);
        command.Parameters.AddWithValue("premium_rows", premiumRows);
        command.Parameters.AddWithValue("starts_at", (startsAt ?? DateTimeOffset.UtcNow.AddDays(3)).ToUniversalTime());
        command.Parameters.AddWithValue("time_zone", timeZone);
        command.Parameters.AddWithValue("kind", kind);
        command.Parameters.AddWithValue("title", $"Test {kind} {Guid.NewGuid():N}");
        command.Parameters.AddWithValue("currency", currency);
        command.Parameters.Add(new NpgsqlParameter("owner", NpgsqlTypes.NpgsqlDbType.Bigint) { Value = (object?)ownerId ?? DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter("origin", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)originIata ?? DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter("destination", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)destinationIata ?? DBNull.Value });
        long showId, venueId, eventId;
        await using (var reader = await command.ExecuteReaderAsync())
        {
            await reader.ReadAsync();
            (showId, venueId, eventId) = (reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2));
        }

        // Inventory is created the one way the app creates it.
        await Holdfast.Features.Inventory.SeatInventory.StockShowsAsync(connection, [showId], CancellationToken.None);
        var labels = new List<string>();
        for (var r = 1; r <= rows; r++)
        {
            for (var s = 0; s < seatsPerRow; s++)
            {
                labels.Add($"{r}{(char)('A' + s)}");
            }
        }

        return new TestShow(showId, venueId, eventId, labels);
    }

    /// <summary>Adds an airport (and its city) so flights can be searched by IATA code or city.</summary>
    public static async Task AirportAsync(NpgsqlDataSource db, string iata, string city, string country, string timeZone)
    {
        await using var command = db.CreateCommand(AirportSql);
        command.Parameters.AddWithValue("iata", iata);
        command.Parameters.AddWithValue("city", city);
        command.Parameters.AddWithValue("country", country);
        command.Parameters.AddWithValue("time_zone", timeZone);
        await command.ExecuteNonQueryAsync();
    }

    private const string AirportSql = """
        with c as (
          insert into city (name, country, time_zone) values (@city, @country, @time_zone)
          on conflict (name, country) do update set time_zone = excluded.time_zone
          returning city_id
        )
        insert into airport (iata, name, city_id, latitude, longitude, time_zone)
        select @iata, @city || ' Airport', city_id, 0, 0, @time_zone from c
        on conflict (iata) do nothing
        """;

    private const string ShowSql = """
        with v as (
          insert into venue (name, kind, owner_app_user_id) values ('Test venue ' || gen_random_uuid(), 'cinema_hall', @owner) returning venue_id
        ), seats as (
          insert into seat (venue_id, section, row_label, seat_number, label, category, x, y, rank)
          select v.venue_id, 'main', r::text, s + 1, r::text || chr(65 + s),
                 case when r <= @premium_rows then 'premium' else 'standard' end, s, r - 1, r * 100 + s
          from v, generate_series(1, @rows) r, generate_series(0, @per_row - 1) s
        ), e as (
          insert into event (kind, title, code, duration_minutes, origin_airport_id, destination_airport_id, origin_city_id, destination_city_id)
          select @kind, @title, gen_random_uuid()::text, 120, oa.airport_id, da.airport_id, oa.city_id, da.city_id
          from (select 1) one
          left join airport oa on oa.iata = @origin
          left join airport da on da.iata = @destination
          returning event_id
        ), s as (
          insert into show (event_id, venue_id, starts_at, ends_at, time_zone, currency, sales_opens_at, sales_closes_at)
          select e.event_id, v.venue_id, @starts_at, @starts_at + interval '2 hours', @time_zone, @currency, @starts_at - interval '400 days', @starts_at from e, v
          returning show_id, venue_id, event_id
        ), prices as (
          insert into show_price (show_id, category, amount_minor)
          select s.show_id, c.category, c.amount from s, (values ('premium', 5000), ('standard', 2000)) as c (category, amount)
        )
        select show_id, venue_id, event_id from s
        """;
}

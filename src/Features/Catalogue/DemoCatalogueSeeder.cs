using System.Text;
using Holdfast.Features.Inventory;
using Holdfast.Infrastructure.Database;
using Npgsql;

namespace Holdfast.Features.Catalogue;

/// <summary>
/// Loads the demo catalogue: real airports, cities and airlines (OpenFlights, <c>db/seed/*.csv</c>),
/// three real-shaped seat maps (an A320 cabin, a cinema hall, a 49-seat coach), flights on the real
/// routes of <c>db/seed/routes.csv</c>, films in the hall and a coach trip, each scheduled several
/// times a day for the next N days. Idempotent: every insert is keyed on a natural key and skips
/// what exists, so running it again only adds the days that have come into the window.
/// </summary>
public sealed class DemoCatalogueSeeder(NpgsqlDataSource db, TimeProvider time)
{
    /// <summary>Folder holding airports.csv, airlines.csv and routes.csv.</summary>
    public static string SeedFolder => Path.Combine(AppContext.BaseDirectory, "db", "seed");

    /// <summary>Loads everything; returns a one-line summary of what exists afterwards.</summary>
    /// <param name="days">Days of shows to schedule, counted from today in each show's local zone (1–366).</param>
    /// <param name="cancellationToken">Cancels the load (the transaction rolls back).</param>
    public async Task<string> SeedAsync(int days, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(days, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(days, 366);
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);

        await ExecuteAsync(connection, StagingTablesSql, cancellationToken);
        await CopyCsvAsync(connection, "tmp_airport (iata, icao, name, city, country, latitude, longitude, time_zone)", "airports.csv", cancellationToken);
        await CopyCsvAsync(connection, "tmp_airline (iata, icao, name, country)", "airlines.csv", cancellationToken);
        await CopyCsvAsync(connection, "tmp_route (airline_iata, flight_number, origin, destination, duration_minutes, departures_local)", "routes.csv", cancellationToken);
        await ExecuteAsync(connection, PlacesSql, cancellationToken);
        await ExecuteAsync(connection, OrganizersSql, cancellationToken);

        await SeedVenueAsync(connection, "airline-ops@holdfast.example", "Airbus A320 (12 business, 168 economy)", "aircraft_cabin", null, SeatMaps.A320(), cancellationToken);
        await SeedVenueAsync(connection, "cinema@holdfast.example", "Holdfast Picturehouse, Screen 1", "cinema_hall", "London", SeatMaps.CinemaHall(), cancellationToken);
        await SeedVenueAsync(connection, "coach@holdfast.example", "49-seat coach (2-2)", "coach", null, SeatMaps.Coach49(), cancellationToken);

        await ExecuteAsync(connection, EventsSql, cancellationToken);
        await using (var shows = new NpgsqlCommand(ShowsSql, connection))
        {
            shows.CommandTimeout = 0;
            shows.With("now", time.GetUtcNow());
            shows.With("days", days);
            await shows.ExecuteNonQueryAsync(cancellationToken);
        }

        await using (var created = new NpgsqlCommand(NewShowsSql, connection))
        {
            await SeatInventory.StockShowsAsync(connection, (long[])(await created.ExecuteScalarAsync(cancellationToken))!, cancellationToken);
        }

        await ExecuteAsync(connection, AnalyzeSql, cancellationToken);

        await using var summary = new NpgsqlCommand(SummarySql, connection);
        var text = (string)(await summary.ExecuteScalarAsync(cancellationToken))!;
        await transaction.CommitAsync(cancellationToken);
        return text;
    }

    private static async Task SeedVenueAsync(
        NpgsqlConnection connection, string ownerEmail, string name, string kind, string? city, IReadOnlyList<SeatSpec> seats, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(VenueSql, connection);
        command.With("owner_email", ownerEmail);
        command.With("name", name);
        command.With("kind", kind);
        command.With("city", city);
        // Null when the venue was seeded before: its seats are there already.
        if (await command.ExecuteScalarAsync(cancellationToken) is long venueId)
        {
            await SeatInventory.WriteVenueSeatsAsync(connection, venueId, seats, cancellationToken);
        }
    }

    private static async Task CopyCsvAsync(NpgsqlConnection connection, string target, string file, CancellationToken cancellationToken)
    {
        // PostgreSQL parses the CSV itself (RFC 4180 quoting); nothing to parse here.
        var path = Path.Combine(SeedFolder, file);
        await using var writer = await connection.BeginTextImportAsync($"copy {target} from stdin (format csv, header true)", cancellationToken);
        await writer.WriteAsync(await File.ReadAllTextAsync(path, Encoding.UTF8, cancellationToken));
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 0 };
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private const string StagingTablesSql = """
        create temp table tmp_airport (iata text, icao text, name text, city text, country text,
                                       latitude double precision, longitude double precision, time_zone text) on commit drop;
        create temp table tmp_airline (iata text, icao text, name text, country text) on commit drop;
        create temp table tmp_route (airline_iata text, flight_number text, origin text, destination text,
                                     duration_minutes int, departures_local text) on commit drop;
        """;

    // A city takes the zone of its alphabetically first airport (cities spanning zones are rare and
    // only matter for venues in them).
    private const string PlacesSql = """
        insert into city (name, country, time_zone)
        select distinct on (city, country) city, country, time_zone
        from tmp_airport
        order by city, country, iata
        on conflict (name, country) do nothing;

        insert into airport (iata, icao, name, city_id, latitude, longitude, time_zone)
        select t.iata, nullif(t.icao, ''), t.name, c.city_id, t.latitude, t.longitude, t.time_zone
        from tmp_airport t
        join city c on c.name = t.city and c.country = t.country
        on conflict (iata) do nothing;

        insert into airline (iata, icao, name, country)
        select iata, nullif(icao, ''), name, nullif(country, '')
        from tmp_airline
        on conflict (iata) do nothing;
        """;

    // Organizers that own the demo catalogue; no password, so nobody can log in as them.
    private const string OrganizersSql = """
        insert into app_user (email, display_name, role)
        values ('airline-ops@holdfast.example', 'Holdfast Air (demo airline)', 'organizer'),
               ('cinema@holdfast.example', 'Holdfast Picturehouse (demo cinema)', 'organizer'),
               ('coach@holdfast.example', 'Holdfast Coaches (demo coach line)', 'organizer')
        on conflict (lower(email)) do nothing;
        """;

    private const string VenueSql = """
        with owner as (
          select app_user_id from app_user where lower(email) = lower(@owner_email)
        ), new_venue as (
          insert into venue (name, kind, city_id, owner_app_user_id)
          select @name, @kind,
                 (select c.city_id from city c where c.name = @city and c.country = 'United Kingdom'),
                 owner.app_user_id
          from owner
          on conflict (owner_app_user_id, name) do nothing
          returning venue_id
        )
        select venue_id from new_venue
        """;

    private const string EventsSql = """
        insert into event (kind, title, code, airline_id, origin_airport_id, destination_airport_id,
                           origin_city_id, destination_city_id, duration_minutes, owner_app_user_id)
        select 'flight', r.flight_number || ' ' || oc.name || ' (' || oa.iata || ') → ' || dc.name || ' (' || da.iata || ')',
               r.flight_number, al.airline_id, oa.airport_id, da.airport_id, oa.city_id, da.city_id, r.duration_minutes,
               (select app_user_id from app_user where email = 'airline-ops@holdfast.example')
        from tmp_route r
        join airline al on al.iata = r.airline_iata
        join airport oa on oa.iata = r.origin
        join airport da on da.iata = r.destination
        join city oc on oc.city_id = oa.city_id
        join city dc on dc.city_id = da.city_id
        on conflict (kind, code) do nothing;

        -- Silent-era films, all in the public domain.
        insert into event (kind, title, code, duration_minutes, owner_app_user_id)
        select 'film', f.title, f.code, f.minutes, (select app_user_id from app_user where email = 'cinema@holdfast.example')
        from (values ('Metropolis (1927)', 'film-metropolis-1927', 153),
                     ('Nosferatu (1922)', 'film-nosferatu-1922', 94),
                     ('The General (1926)', 'film-the-general-1926', 78),
                     ('Safety Last! (1923)', 'film-safety-last-1923', 74)) as f (title, code, minutes)
        on conflict (kind, code) do nothing;

        -- Scottish Citylink's Edinburgh–Glasgow express.
        insert into event (kind, title, code, origin_city_id, destination_city_id, duration_minutes, owner_app_user_id)
        select 'trip', 'Citylink 900 Edinburgh → Glasgow', 'SC900', o.city_id, d.city_id, 75,
               (select app_user_id from app_user where email = 'coach@holdfast.example')
        from city o, city d
        where o.name = 'Edinburgh' and o.country = 'United Kingdom' and d.name = 'Glasgow' and d.country = 'United Kingdom'
        on conflict (kind, code) do nothing;
        """;

    // Local departure times are converted through the origin's zone ((local date + time) AT TIME
    // ZONE zone), so a 21:55 departure from Honolulu is 21:55 in Honolulu whatever UTC date it is.
    // Prices (minor units) grow with block time; JPY has no minor unit, so yen are whole.
    private const string ShowsSql = """
        create temp table tmp_new_show on commit drop as
        with cabin as (select venue_id from venue where kind = 'aircraft_cabin' and name = 'Airbus A320 (12 business, 168 economy)'),
             hall as (select v.venue_id, c.time_zone from venue v join city c on c.city_id = v.city_id where v.name = 'Holdfast Picturehouse, Screen 1'),
             coach as (select venue_id from venue where kind = 'coach' and name = '49-seat coach (2-2)'),
        flight as (
          select e.event_id, cabin.venue_id, oa.time_zone, e.duration_minutes,
                 case oc.country
                   when 'United Kingdom' then 'GBP' when 'Japan' then 'JPY' when 'Australia' then 'AUD'
                   when 'New Zealand' then 'NZD' when 'Canada' then 'CAD' when 'Singapore' then 'SGD'
                   when 'Hong Kong' then 'HKD' when 'United Arab Emirates' then 'AED' when 'South Africa' then 'ZAR'
                   when 'India' then 'INR' when 'Thailand' then 'THB' when 'Mexico' then 'MXN'
                   when 'Germany' then 'EUR' when 'France' then 'EUR' when 'Netherlands' then 'EUR' when 'Spain' then 'EUR'
                   else 'USD' end as currency,
                 (string_to_table(r.departures_local, ';'))::time as local_time
          from tmp_route r
          join event e on e.kind = 'flight' and e.code = r.flight_number
          join airport oa on oa.airport_id = e.origin_airport_id
          join city oc on oc.city_id = oa.city_id
          cross join cabin
        ),
        candidate as (
          select f.event_id, f.venue_id, f.time_zone, f.currency,
                 ((((@now at time zone f.time_zone)::date + d) + f.local_time) at time zone f.time_zone) as starts_at,
                 f.duration_minutes,
                 case when f.currency = 'JPY' then 6000 + f.duration_minutes * 120 else 4900 + f.duration_minutes * 45 end as economy,
                 'flight' as kind
          from flight f, generate_series(0, @days - 1) as d
          union all
          -- Five screenings a day, each slot a different film on consecutive days.
          select e.event_id, hall.venue_id, hall.time_zone, 'GBP',
                 ((((@now at time zone hall.time_zone)::date + d) + slot.local_time) at time zone hall.time_zone),
                 e.duration_minutes, 1250, 'film'
          from hall,
               generate_series(0, @days - 1) as d,
               (values (0, time '10:30'), (1, time '13:30'), (2, time '16:30'), (3, time '19:30'), (4, time '22:15')) as slot (n, local_time),
               lateral (select event_id, duration_minutes,
                               row_number() over (order by code) - 1 as film_index
                        from event where kind = 'film') as e
          -- Keyed to the calendar date, not to the day of seeding, so a later run plans the same
          -- film in a slot that an earlier run already filled.
          where e.film_index = ((((@now at time zone hall.time_zone)::date + d) - date '2000-01-01') + slot.n) % 4
          union all
          select e.event_id, coach.venue_id, c.time_zone, 'GBP',
                 ((((@now at time zone c.time_zone)::date + d) + t.local_time) at time zone c.time_zone),
                 e.duration_minutes, 1590, 'trip'
          from coach, event e
          join city c on c.city_id = e.origin_city_id,
               generate_series(0, @days - 1) as d,
               (values (time '07:00'), (time '12:00'), (time '17:30')) as t (local_time)
          where e.kind = 'trip' and e.code = 'SC900'
        ),
        inserted as (
          insert into show (event_id, venue_id, starts_at, ends_at, time_zone, currency, status, sales_opens_at, sales_closes_at)
          select event_id, venue_id, starts_at, starts_at + make_interval(mins => duration_minutes), time_zone, currency, 'on_sale',
                 @now, starts_at
          from candidate
          where starts_at > @now + interval '1 hour'
            -- A hall or coach already busy then (a show an organizer added) keeps its show.
            and not exists (
              select 1 from show s
              where s.venue_id = candidate.venue_id and s.exclusive_venue and s.status <> 'cancelled'
                and tstzrange(s.starts_at, s.ends_at) && tstzrange(candidate.starts_at, candidate.starts_at + make_interval(mins => candidate.duration_minutes)))
          on conflict (event_id, venue_id, starts_at) do nothing
          returning show_id, event_id, venue_id, starts_at
        )
        select i.show_id, i.venue_id, c.kind, c.economy
        from inserted i
        join candidate c on c.event_id = i.event_id and c.venue_id = i.venue_id and c.starts_at = i.starts_at;

        insert into show_price (show_id, category, amount_minor)
        select show_id, 'economy', economy from tmp_new_show where kind = 'flight'
        union all
        select show_id, 'business', economy * 3 from tmp_new_show where kind = 'flight'
        union all
        select show_id, 'standard', economy from tmp_new_show where kind in ('film', 'trip')
        union all
        select show_id, 'premium', economy + 600 from tmp_new_show where kind = 'film';

        """;

    private const string NewShowsSql = "select coalesce(array_agg(show_id), '{}') from tmp_new_show";

    // The planner's statistics after thousands of rows arrived at once.
    private const string AnalyzeSql = "analyze show; analyze show_seat; analyze show_price;";

    private const string SummarySql = """
        select format('%s cities, %s airports, %s airlines, %s venues, %s events, %s shows, %s show seats',
                      (select count(*) from city), (select count(*) from airport), (select count(*) from airline),
                      (select count(*) from venue), (select count(*) from event), (select count(*) from show),
                      (select count(*) from show_seat))
        """;
}

using Holdfast.Features.Catalogue;
using Holdfast.Features.Demo;
using Holdfast.Tests.Infrastructure;
using Npgsql;

namespace Holdfast.Tests.Features.Catalogue;

public sealed class DemoCatalogueTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    private TestApp App => fixture.App;

    [Fact]
    public async Task Seeding_loads_real_places_and_seat_maps_and_is_idempotent()
    {
        var seeder = new DemoCatalogueSeeder(App.DataSource, TimeProvider.System);
        var first = await seeder.SeedAsync(days: 2, CancellationToken.None);
        var second = await seeder.SeedAsync(days: 2, CancellationToken.None);
        Assert.Equal(first, second);

        Assert.Equal(180L, await App.DataSource.ScalarAsync<long>("select count(*) from seat s join venue v using (venue_id) where v.kind = 'aircraft_cabin'"));
        Assert.Equal(12L, await App.DataSource.ScalarAsync<long>("select count(*) from seat s join venue v using (venue_id) where v.kind = 'aircraft_cabin' and category = 'business'"));
        Assert.Equal(0L, await App.DataSource.ScalarAsync<long>("select count(*) from seat s join venue v using (venue_id) where v.kind = 'aircraft_cabin' and row_label = '13'"));
        Assert.Equal(49L, await App.DataSource.ScalarAsync<long>("select count(*) from seat s join venue v using (venue_id) where v.kind = 'coach'"));
        Assert.Equal(12L, await App.DataSource.ScalarAsync<long>("select count(distinct row_label) from seat s join venue v using (venue_id) where v.kind = 'cinema_hall'"));
        Assert.Equal(14L, await App.DataSource.ScalarAsync<long>("select min(n) from (select count(*) n from seat s join venue v using (venue_id) where v.kind = 'cinema_hall' group by row_label) r"));
        Assert.Equal(20L, await App.DataSource.ScalarAsync<long>("select max(n) from (select count(*) n from seat s join venue v using (venue_id) where v.kind = 'cinema_hall' group by row_label) r"));
        Assert.True(await App.DataSource.ScalarAsync<long>("select count(*) from seat s join venue v using (venue_id) where v.kind = 'cinema_hall' and category = 'premium'") > 0);
        Assert.True(await App.DataSource.ScalarAsync<long>("select count(*) from airport") > 5000);
        Assert.Equal("Europe/London", await App.DataSource.ScalarAsync<string>("select time_zone from airport where iata = 'LHR'"));
        Assert.True(await App.DataSource.ScalarAsync<long>("select count(distinct e.event_id) from event e join show s using (event_id) where e.kind = 'flight'") >= 30);
        Assert.True(await App.DataSource.ScalarAsync<long>("select count(*) from show s join event e using (event_id) where e.kind = 'film'") >= 5);
        Assert.True(await App.DataSource.ScalarAsync<long>("select count(*) from show s join event e using (event_id) where e.kind = 'trip'") >= 3);
        // Local departure times come from the timetable, through the origin's zone.
        Assert.Equal(0L, await App.DataSource.ScalarAsync<long>("""
            select count(*) from show s join event e using (event_id)
            where e.code = 'HA2' and to_char(s.starts_at at time zone 'Pacific/Honolulu', 'HH24:MI') not in ('13:30', '21:45', '22:35')
            """));
        Assert.Equal(0L, await App.DataSource.ScalarAsync<long>("select count(*) from show s where not exists (select 1 from show_seat ss where ss.show_id = s.show_id)"));
        Assert.Equal(0L, await App.DataSource.ScalarAsync<long>("select count(*) from show s where not exists (select 1 from show_price p where p.show_id = s.show_id)"));
    }

    [Fact]
    public async Task Seeding_again_on_a_later_day_adds_that_day_without_a_clash_in_the_hall()
    {
        await using var db = NpgsqlDataSource.Create(await PostgresServer.Instance.CreateDatabaseAsync());
        var today = DateTimeOffset.UtcNow;
        await new DemoCatalogueSeeder(db, new ManualTime(today)).SeedAsync(days: 2, CancellationToken.None);
        var before = await db.ScalarAsync<long>("select count(*) from show");

        // `scripts/run.sh` on the next day seeds over yesterday's catalogue.
        await new DemoCatalogueSeeder(db, new ManualTime(today.AddDays(1))).SeedAsync(days: 2, CancellationToken.None);

        Assert.True(await db.ScalarAsync<long>("select count(*) from show") > before);
        Assert.Equal(0L, await db.ScalarAsync<long>("""
            select count(*) from show a join show b on a.venue_id = b.venue_id and a.show_id < b.show_id
            where a.exclusive_venue and a.status <> 'cancelled' and b.status <> 'cancelled'
              and tstzrange(a.starts_at, a.ends_at) && tstzrange(b.starts_at, b.ends_at)
            """));
    }

    [Fact]
    public async Task The_demo_client_books_two_seats_on_a_real_route()
    {
        await new DemoCatalogueSeeder(App.DataSource, TimeProvider.System).SeedAsync(days: 3, CancellationToken.None);
        using var client = App.CreateClient();
        using var output = new StringWriter();

        var exitCode = await DemoClient.RunAsync(client, "LHR", "JFK", output, CancellationToken.None);

        Assert.True(exitCode == 0, output.ToString());
        Assert.Contains("is confirmed", output.ToString(), StringComparison.Ordinal);
        Assert.Equal(2L, await App.DataSource.ScalarAsync<long>("""
            select count(*) from booking_seat bs join booking b using (booking_id) join show s on s.show_id = b.show_id
            join event e using (event_id) where e.code in (select code from event where title like '%(LHR) → %(JFK)') and b.status = 'confirmed'
            """));
    }
}

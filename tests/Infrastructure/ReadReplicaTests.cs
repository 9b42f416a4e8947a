using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Holdfast.Infrastructure.Database;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Holdfast.Tests.Infrastructure;

/// <summary>
/// ConnectionStrings:HoldfastReads: search, show details and anonymous seat maps read from it;
/// signed-in seat maps and every write from the primary. The "replica" here is a second, separate
/// database whose rows differ on purpose, so each answer shows where it was read.
/// </summary>
public sealed class ReadReplicaTests
{
    private static async Task<(string Primary, string Reads, TestShow Show)> TwoDatabasesAsync()
    {
        var primary = await PostgresServer.Instance.CreateDatabaseAsync();
        var reads = await PostgresServer.Instance.CreateDatabaseAsync();
        await using var primaryDb = NpgsqlDataSource.Create(primary);
        await using var readsDb = NpgsqlDataSource.Create(reads);
        var show = await TestCatalogue.ShowAsync(primaryDb);
        var copy = await TestCatalogue.ShowAsync(readsDb);
        Assert.Equal(show.ShowId, copy.ShowId); // both fresh from one template: the same ids
        await readsDb.ScalarAsync<object?>("update event set title = 'Seen on the replica' where event_id = $1", copy.EventId);
        await readsDb.ScalarAsync<object?>("update seat set label = 'R1' where seat_id = (select min(seat_id) from show_seat where show_id = $1)", copy.ShowId);
        return (primary, reads, show);
    }

    [Fact]
    public async Task Search_show_details_and_anonymous_seat_maps_come_from_the_reads_database_and_signed_in_seat_maps_and_writes_from_the_primary()
    {
        var (primary, reads, show) = await TwoDatabasesAsync();
        // Cache off: an entry is shared by anonymous and signed-in readers (a caught-up replica and
        // the primary build the same bytes); here the two databases differ on purpose.
        await using var app = await TestApp.StartAsync(PostgresServer.Instance, new Dictionary<string, string?>
        {
            ["ConnectionStrings:HoldfastReads"] = reads,
            ["Cache:Enabled"] = "false",
        }, connectionString: primary);
        var anonymous = app.CreateClient();
        var (customer, _) = await app.CustomerAsync();

        var details = await anonymous.GetFromJsonAsync<JsonObject>($"/shows/{show.ShowId}");
        Assert.Equal("Seen on the replica", details!["title"]!.GetValue<string>());
        var found = await anonymous.GetFromJsonAsync<JsonObject>("/shows?q=" + Uri.EscapeDataString("Seen on the replica"));
        Assert.Contains(found!["items"]!.AsArray(), i => i!["show_id"]!.GetValue<long>() == show.ShowId);
        var anonymousMap = await anonymous.GetFromJsonAsync<JsonObject>($"/shows/{show.ShowId}/seats");
        Assert.Equal("R1", anonymousMap!["seats"]![0]!["label"]!.GetValue<string>());

        var signedInMap = await customer.GetFromJsonAsync<JsonObject>($"/shows/{show.ShowId}/seats");
        Assert.Equal("1A", signedInMap!["seats"]![0]!["label"]!.GetValue<string>());

        // A write goes to the primary, and the seat map it changed is read there by its seq key.
        await customer.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "1B" } }).ExpectAsync(HttpStatusCode.Created);
        Assert.Equal(1L, await app.DataSource.ScalarAsync<long>("select count(*) from hold where show_id = $1", show.ShowId));
        await using var readsDb = NpgsqlDataSource.Create(reads);
        Assert.Equal(0L, await readsDb.ScalarAsync<long>("select count(*) from hold where show_id = $1", show.ShowId));

        var (onReplica, _) = app.Services.GetRequiredService<ReadReplica>().Stats;
        Assert.Equal(3, onReplica);
    }

    [Fact]
    public async Task Without_a_reads_connection_string_every_read_goes_to_the_primary()
    {
        var (primary, _, show) = await TwoDatabasesAsync();
        await using var app = await TestApp.StartAsync(PostgresServer.Instance, connectionString: primary);
        var anonymous = app.CreateClient();

        var details = await anonymous.GetFromJsonAsync<JsonObject>($"/shows/{show.ShowId}");
        Assert.StartsWith("Test film", details!["title"]!.GetValue<string>(), StringComparison.Ordinal);
        var map = await anonymous.GetFromJsonAsync<JsonObject>($"/shows/{show.ShowId}/seats");
        Assert.Equal("1A", map!["seats"]![0]!["label"]!.GetValue<string>());
        Assert.False(app.Services.GetRequiredService<ReadReplica>().Configured);
    }

    [Fact]
    public async Task A_read_the_replica_cancels_for_a_conflict_with_recovery_is_answered_from_the_primary()
    {
        var (primary, reads, show) = await TwoDatabasesAsync();
        await using (var readsDb = NpgsqlDataSource.Create(reads))
        {
            // What a standby does to a query whose rows replay must remove: SQLSTATE 40001.
            await readsDb.ScalarAsync<object?>("""
                create function recovery_conflict() returns boolean language plpgsql as
                $$ begin raise exception 'canceling statement due to conflict with recovery' using errcode = '40001'; end $$;
                alter table seat_feed rename to seat_feed_replayed;
                create view seat_feed as select * from seat_feed_replayed where recovery_conflict();
                """);
        }

        await using var app = await TestApp.StartAsync(PostgresServer.Instance, new Dictionary<string, string?>
        {
            ["ConnectionStrings:HoldfastReads"] = reads,
        }, connectionString: primary);

        var map = await app.CreateClient().GetAsync($"/shows/{show.ShowId}/seats");
        Assert.Equal(HttpStatusCode.OK, map.StatusCode);
        Assert.Equal("1A", (await map.Content.ReadFromJsonAsync<JsonObject>())!["seats"]![0]!["label"]!.GetValue<string>());
        Assert.Equal((0, 1), app.Services.GetRequiredService<ReadReplica>().Stats);
    }

    [Fact]
    public async Task When_the_reads_database_is_unreachable_reads_are_answered_from_the_primary()
    {
        var (primary, reads, show) = await TwoDatabasesAsync();
        var (proxy, proxied) = TcpProxy.For(reads);
        await using var _ = proxy;
        await using var app = await TestApp.StartAsync(PostgresServer.Instance, new Dictionary<string, string?>
        {
            ["ConnectionStrings:HoldfastReads"] = proxied,
        }, connectionString: primary);
        var anonymous = app.CreateClient();

        proxy.Cut();
        var details = await anonymous.GetAsync($"/shows/{show.ShowId}");
        Assert.Equal(HttpStatusCode.OK, details.StatusCode);
        Assert.StartsWith("Test film", (await details.Content.ReadFromJsonAsync<JsonObject>())!["title"]!.GetValue<string>(), StringComparison.Ordinal);
        var (onReplica, onPrimary) = app.Services.GetRequiredService<ReadReplica>().Stats;
        Assert.Equal((0, 1), (onReplica, onPrimary));
    }
}

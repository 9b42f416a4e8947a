using System.Net;
using System.Net.Http.Json;
using Npgsql;

namespace Holdfast.Tests.Infrastructure;

/// <summary>
/// A failover as one node sees it, staged on one server: its sessions are cut (HAProxy closes them
/// when Patroni's primary goes) and the database it reaches refuses writes for a while (the address
/// still leads to a standby: the old primary demoted), then takes them again (the new primary).
/// Writes answer 503 with Retry-After meanwhile, never 500; afterwards the node serves writes
/// without a restart, its pooled read-only connections forgotten, and its LISTEN connections (seat
/// feed, jobs) follow, so the seat stream and hold expiry go on. deploy/ha-faults.sh does the real one.
/// </summary>
public sealed class FailoverTests
{
    [Fact]
    public async Task Writes_answer_503_while_the_address_leads_to_a_standby_and_the_node_follows_the_new_primary_without_a_restart()
    {
        var connectionString = await PostgresServer.Instance.CreateDatabaseAsync();
        var database = new NpgsqlConnectionStringBuilder(connectionString).Database!;
        await using var admin = NpgsqlDataSource.Create(PostgresServer.Instance.AdminConnectionString);
        await using var app = await TestApp.StartAsync(PostgresServer.Instance, new Dictionary<string, string?> { ["Holds:DurationSeconds"] = "2" }, connectionString: connectionString);
        var show = await TestCatalogue.ShowAsync(app.DataSource);
        var (customer, _) = await app.CustomerAsync();
        await using var stream = await SseSubscriber.OpenAsync(app.CreateClient(), $"/shows/{show.ShowId}/seats/stream");
        var snapshot = await stream.NextAsync();
        Assert.Equal("snapshot", snapshot.Type);

        // The old primary goes: its sessions end and what the address reaches now is read-only.
        await admin.ScalarAsync<object?>($"alter database \"{database}\" set default_transaction_read_only = on");
        await TerminateAsync(admin, database);
        var during = new List<HttpResponseMessage>();
        for (var i = 0; i < 8; i++)
        {
            during.Add(await customer.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { show.Labels[i] } }));
        }

        foreach (var answer in during)
        {
            Assert.True(answer.StatusCode == HttpStatusCode.ServiceUnavailable, $"{(int)answer.StatusCode} {await answer.Content.ReadAsStringAsync()}");
            Assert.Equal(TimeSpan.FromSeconds(2), answer.Headers.RetryAfter?.Delta);
        }

        // The new primary takes writes. Pooled connections opened meanwhile are read-only sessions
        // (Patroni's HAProxy would have cut them; a multi-host string would not): forgotten on the
        // first 25006, they cost no request now.
        await admin.ScalarAsync<object?>($"alter database \"{database}\" reset default_transaction_read_only");
        await TerminateAsync(admin, database, onlyListeners: true);
        for (var i = 0; i < 6; i++)
        {
            await customer.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { show.Labels[10 + i] } }).ExpectAsync(HttpStatusCode.Created);
        }

        // The seat feed's LISTEN reconnected: the stream carries the holds, then their expiry,
        // which the job worker (its LISTEN and claims on the new primary too) runs 2 s later.
        var held = await stream.NextAsync(TimeSpan.FromSeconds(20));
        Assert.True(long.Parse(held.Id!) > long.Parse(snapshot.Id!));
        await using var fresh = NpgsqlDataSource.Create(connectionString); // the test's own pool was cut too
        await Eventually.EqualAsync(0L, () => fresh.ScalarAsync<long>("select count(*) from hold where show_id = $1 and status = 'active'", show.ShowId), TimeSpan.FromSeconds(30));
    }

    // Ends the app's sessions on the database, as a server going away does; with onlyListeners,
    // only the LISTEN connections (the rest stay in the pool, read-only sessions).
    private static Task<object?> TerminateAsync(NpgsqlDataSource admin, string database, bool onlyListeners = false) =>
        admin.ScalarAsync<object?>(
            "select count(pg_terminate_backend(pid)) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()" +
            (onlyListeners ? " and query ilike 'listen%'" : ""),
            database);
}

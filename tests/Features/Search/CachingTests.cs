using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Holdfast.Infrastructure.Caching;
using Holdfast.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Holdfast.Tests.Features.Search;

/// <summary>
/// An app whose read-cache entries outlive every wait of <see cref="CachingTests"/>, so that only an
/// invalidation can make a cached search show a change (<see cref="TestApp.LongLivedCache"/>).
/// </summary>
public sealed class LongLivedCacheFixture : AppFixture
{
    protected override IDictionary<string, string?> Settings => TestApp.LongLivedCache();
}

public sealed class CachingTests(LongLivedCacheFixture fixture) : IClassFixture<LongLivedCacheFixture>
{
    private TestApp App => fixture.App;

    private ReadCache Cache => App.Services.GetRequiredService<ReadCache>();

    [Fact]
    public async Task Search_answers_carry_an_ETag_and_If_None_Match_gets_304_until_a_listed_show_changes()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource, rows: 2, seatsPerRow: 3, premiumRows: 0, currency: "PLN");
        using var client = App.CreateClient();
        using var first = await client.GetAsync("/shows?currency=PLN");
        var etag = first.Headers.ETag!.Tag;
        var hits = Cache.Stats.Hits;

        using (var again = new HttpRequestMessage(HttpMethod.Get, "/shows?currency=PLN"))
        {
            again.Headers.TryAddWithoutValidation("If-None-Match", etag);
            using var response = await client.SendAsync(again);
            Assert.Equal(HttpStatusCode.NotModified, response.StatusCode);
            Assert.Empty(await response.Content.ReadAsByteArrayAsync());
        }

        // The answer came from the cache; it lives longer than this test waits, so only the seat
        // notification of the hold below can bring the new availability.
        Assert.Equal(hits + 1, Cache.Stats.Hits);
        var (customer, _) = await App.CustomerAsync();
        await customer.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "1A", "1B" } }).ExpectAsync(HttpStatusCode.Created);

        await Eventually.EqualAsync(4, async () =>
            (await client.GetFromJsonAsync<JsonObject>("/shows?currency=PLN"))!["items"]![0]!["seats_available"]!.GetValue<int>(), TestApp.InvalidationDeadline);
        using var changed = new HttpRequestMessage(HttpMethod.Get, "/shows?currency=PLN");
        changed.Headers.TryAddWithoutValidation("If-None-Match", etag);
        using var fresh = await client.SendAsync(changed);
        Assert.Equal(HttpStatusCode.OK, fresh.StatusCode);
    }

    [Fact]
    public async Task A_catalogue_change_drops_every_cached_search()
    {
        await TestCatalogue.ShowAsync(App.DataSource, rows: 1, seatsPerRow: 1, premiumRows: 0, currency: "HUF");
        using var client = App.CreateClient();
        var before = (await client.GetFromJsonAsync<JsonObject>("/shows?currency=HUF"))!["items"]!.AsArray().Count;
        var hits = Cache.Stats.Hits;

        // A show added by SQL is invisible to the cache until a catalogue notification says so.
        await TestCatalogue.ShowAsync(App.DataSource, rows: 1, seatsPerRow: 1, premiumRows: 0, currency: "HUF");
        Assert.Equal(before, (await client.GetFromJsonAsync<JsonObject>("/shows?currency=HUF"))!["items"]!.AsArray().Count);
        Assert.Equal(hits + 1, Cache.Stats.Hits);
        await using (var connection = await App.DataSource.OpenConnectionAsync())
        {
            await ReadCache.NotifyCatalogueChangedAsync(connection, CancellationToken.None);
        }

        await Eventually.EqualAsync(before + 1, async () => (await client.GetFromJsonAsync<JsonObject>("/shows?currency=HUF"))!["items"]!.AsArray().Count,
            TestApp.InvalidationDeadline);
    }
}

public sealed class SeatMapCachingTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    private TestApp App => fixture.App;

    [Fact]
    public async Task The_seat_map_answers_304_to_its_ETag_until_a_seat_changes()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource, rows: 1, seatsPerRow: 3, premiumRows: 0);
        using var client = App.CreateClient();
        using var first = await client.GetAsync($"/shows/{show.ShowId}/seats");
        var etag = first.Headers.ETag!.Tag;

        using (var again = new HttpRequestMessage(HttpMethod.Get, $"/shows/{show.ShowId}/seats"))
        {
            again.Headers.TryAddWithoutValidation("If-None-Match", etag);
            using var response = await client.SendAsync(again);
            Assert.Equal(HttpStatusCode.NotModified, response.StatusCode);
        }

        var (customer, _) = await App.CustomerAsync();
        await customer.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "1A" } }).ExpectAsync(HttpStatusCode.Created);
        using var changed = new HttpRequestMessage(HttpMethod.Get, $"/shows/{show.ShowId}/seats");
        changed.Headers.TryAddWithoutValidation("If-None-Match", etag);
        using var fresh = await client.SendAsync(changed);
        Assert.Equal(HttpStatusCode.OK, fresh.StatusCode);
    }

    [Fact]
    public async Task A_seat_change_is_visible_at_once_even_before_the_cache_hears_of_it()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource, rows: 1, seatsPerRow: 3, premiumRows: 0);
        using var client = App.CreateClient();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"/shows/{show.ShowId}/seats")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"/shows/{show.ShowId}")).StatusCode);

        // A change committed with its event number but no notification: only the number can tell.
        await using (var command = App.DataSource.CreateCommand("""
            with blocked as (
              update show_seat ss set state = 'blocked' from seat se
              where ss.show_id = @show and se.seat_id = ss.seat_id and se.label = '1A')
            update seat_feed set last_seq = last_seq + 1 where show_id = @show
            """))
        {
            command.Parameters.AddWithValue("show", show.ShowId);
            await command.ExecuteNonQueryAsync();
        }

        var map = (await client.GetFromJsonAsync<JsonObject>($"/shows/{show.ShowId}/seats"))!;
        Assert.Equal("blocked", map["seats"]!.AsArray().Single(s => s!["label"]!.GetValue<string>() == "1A")!["state"]!.GetValue<string>());
        var details = (await client.GetFromJsonAsync<JsonObject>($"/shows/{show.ShowId}"))!;
        Assert.Equal(2, details["categories"]!.AsArray().Sum(c => c!["seats_available"]!.GetValue<int>()));
    }
}

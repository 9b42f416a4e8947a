using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Holdfast.Infrastructure.Caching;
using Holdfast.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Holdfast.Tests.Features.Search;

public sealed class CachingTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    private TestApp App => fixture.App;

    [Fact]
    public async Task Search_answers_carry_an_ETag_and_If_None_Match_gets_304_until_a_listed_show_changes()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource, rows: 2, seatsPerRow: 3, premiumRows: 0, currency: "PLN");
        using var client = App.CreateClient();
        using var first = await client.GetAsync("/shows?currency=PLN");
        var etag = first.Headers.ETag!.Tag;

        using (var again = new HttpRequestMessage(HttpMethod.Get, "/shows?currency=PLN"))
        {
            again.Headers.TryAddWithoutValidation("If-None-Match", etag);
            using var response = await client.SendAsync(again);
            Assert.Equal(HttpStatusCode.NotModified, response.StatusCode);
            Assert.Empty(await response.Content.ReadAsByteArrayAsync());
        }

        var (customer, _) = await App.CustomerAsync();
        await customer.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "1A", "1B" } }).ExpectAsync(HttpStatusCode.Created);

        await Eventually.EqualAsync(4, async () =>
            (await client.GetFromJsonAsync<JsonObject>("/shows?currency=PLN"))!["items"]![0]!["seats_available"]!.GetValue<int>());
        using var changed = new HttpRequestMessage(HttpMethod.Get, "/shows?currency=PLN");
        changed.Headers.TryAddWithoutValidation("If-None-Match", etag);
        using var fresh = await client.SendAsync(changed);
        Assert.Equal(HttpStatusCode.OK, fresh.StatusCode);
        Assert.True(App.Services.GetRequiredService<ReadCache>().Stats.Hits > 0);
    }

    [Fact]
    public async Task A_catalogue_change_drops_every_cached_search()
    {
        await TestCatalogue.ShowAsync(App.DataSource, rows: 1, seatsPerRow: 1, premiumRows: 0, currency: "HUF");
        using var client = App.CreateClient();
        var before = (await client.GetFromJsonAsync<JsonObject>("/shows?currency=HUF"))!["items"]!.AsArray().Count;

        // A show added by SQL is invisible to the cache until a catalogue notification says so.
        await TestCatalogue.ShowAsync(App.DataSource, rows: 1, seatsPerRow: 1, premiumRows: 0, currency: "HUF");
        await using (var connection = await App.DataSource.OpenConnectionAsync())
        {
            await ReadCache.NotifyCatalogueChangedAsync(connection, CancellationToken.None);
        }

        await Eventually.EqualAsync(before + 1, async () => (await client.GetFromJsonAsync<JsonObject>("/shows?currency=HUF"))!["items"]!.AsArray().Count);
    }
}

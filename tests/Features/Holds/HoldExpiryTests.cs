using System.Net;
using System.Net.Http.Json;
using Holdfast.Tests.Infrastructure;

namespace Holdfast.Tests.Features.Holds;

/// <summary>Holds last one second here, so the real job worker expires them while the test watches.</summary>
public sealed class ShortHoldsFixture : AppFixture
{
    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        ["Holds:DurationSeconds"] = "1",
        ["SeatStream:HeartbeatSeconds"] = "1",
    };
}

public sealed class HoldExpiryTests(ShortHoldsFixture fixture) : IClassFixture<ShortHoldsFixture>
{
    private TestApp App => fixture.App;

    [Fact]
    public async Task An_expired_hold_releases_its_seats_and_the_seat_feed_shows_it()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource);
        var (client, _) = await App.CustomerAsync();
        await using var feed = await SseSubscriber.OpenAsync(App.CreateClient(), $"/shows/{show.ShowId}/seats/stream");
        Assert.Equal("snapshot", (await feed.NextAsync()).Type);

        var hold = await client.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "4D", "4E" } }).ExpectAsync(HttpStatusCode.Created);
        var holdId = hold["hold_id"]!.GetValue<long>();
        var expiresAt = hold["expires_at"]!.GetValue<DateTimeOffset>();

        var held = await feed.NextAsync();
        Assert.Equal("held", held.Data["kind"]!.GetValue<string>());
        var expired = await feed.NextAsync(TimeSpan.FromSeconds(15));
        Assert.Equal("expired", expired.Data["kind"]!.GetValue<string>());
        Assert.Equal("available", expired.Data["state"]!.GetValue<string>());
        Assert.Equal(held.Data["seat_ids"]!.ToJsonString(), expired.Data["seat_ids"]!.ToJsonString());
        Assert.True(expired.Data["occurred_at"]!.GetValue<DateTimeOffset>() >= expiresAt, "released no earlier than expires_at");

        Assert.Equal("expired", await App.DataSource.ScalarAsync<string>($"select status from hold where hold_id = {holdId}"));
        // The worker marks the job completed just after the release commits.
        await Eventually.EqualAsync("completed", () => App.DataSource.ScalarAsync<string>($"select state from job where unique_key = 'hold:{holdId}'"));

        // Seats are sellable again, and the expired hold cannot be booked.
        await client.PostAsync($"/holds/{holdId}/booking", null).ExpectAsync(HttpStatusCode.Conflict);
        var (other, _) = await App.CustomerAsync();
        await other.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "4D", "4E" } }).ExpectAsync(HttpStatusCode.Created);
    }

    [Fact]
    public async Task An_idle_stream_sends_heartbeats_without_an_id()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource);
        await using var feed = await SseSubscriber.OpenAsync(App.CreateClient(), $"/shows/{show.ShowId}/seats/stream");
        Assert.Equal("snapshot", (await feed.NextRawAsync(TimeSpan.FromSeconds(10))).Type);

        var heartbeat = await feed.NextRawAsync(TimeSpan.FromSeconds(5));

        Assert.Equal("heartbeat", heartbeat.Type);
        Assert.Null(heartbeat.Id);
    }
}

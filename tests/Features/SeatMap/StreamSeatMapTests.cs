using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Holdfast.Tests.Infrastructure;

namespace Holdfast.Tests.Features.SeatMap;

public sealed class StreamSeatMapTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    private TestApp App => fixture.App;

    [Fact]
    public async Task The_stream_starts_with_a_snapshot_then_sends_each_change_with_its_id()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource, rows: 3, seatsPerRow: 4);
        var (client, _) = await App.CustomerAsync();
        await using var feed = await SseSubscriber.OpenAsync(App.CreateClient(), $"/shows/{show.ShowId}/seats/stream");

        var snapshot = await feed.NextAsync();
        Assert.Equal("snapshot", snapshot.Type);
        Assert.Equal("0", snapshot.Id);
        Assert.Equal(12, snapshot.Data["seats"]!.AsArray().Count);
        Assert.All(snapshot.Data["seats"]!.AsArray(), s => Assert.Equal("available", s!["state"]!.GetValue<string>()));

        var hold = await client.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "2B", "2C" } }).ExpectAsync(HttpStatusCode.Created);
        await client.PostAsync($"/holds/{hold["hold_id"]}/booking", null).ExpectAsync(HttpStatusCode.Created);

        var held = await feed.NextAsync();
        var booked = await feed.NextAsync();
        Assert.Equal(("seats", "1", "held"), (held.Type, held.Id, held.Data["state"]!.GetValue<string>()));
        Assert.Equal(("seats", "2", "booked"), (booked.Type, booked.Id, booked.Data["state"]!.GetValue<string>()));
        var seatIds = hold["seats"]!.AsArray().Select(s => s!["seat_id"]!.GetValue<long>()).Order().ToArray();
        Assert.Equal(seatIds, booked.Data["seat_ids"]!.AsArray().Select(s => s!.GetValue<long>()).ToArray());
    }

    [Fact]
    public async Task A_change_nobody_announced_reaches_subscribers_through_the_poll()
    {
        // The test nodes' poll is an hour away; this node polls every 100 ms.
        await using var app = await TestApp.StartAsync(PostgresServer.Instance, new Dictionary<string, string?> { ["SeatFeed:PollMilliseconds"] = "100" });
        var show = await TestCatalogue.ShowAsync(app.DataSource, rows: 1, seatsPerRow: 2);
        await using var feed = await SseSubscriber.OpenAsync(app.CreateClient(), $"/shows/{show.ShowId}/seats/stream");
        Assert.Equal("snapshot", (await feed.NextAsync()).Type);

        // What a node that died between its commit and its announcement leaves behind, or a DBA's
        // hand-written change: a seat event that no notification names.
        var seatId = await app.DataSource.ScalarAsync<long>($"select min(seat_id) from show_seat where show_id = {show.ShowId}");
        await app.DataSource.ScalarAsync<long>($"""
            with blocked as (update show_seat set state = 'blocked' where show_id = {show.ShowId} and seat_id = {seatId} returning seat_id)
            select seat_feed_append({show.ShowId}, 'blocked', 'blocked', (select array_agg(seat_id) from blocked), now())
            """);

        var change = await feed.NextAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(("seats", "1", "blocked"), (change.Type, change.Id, change.Data["state"]!.GetValue<string>()));
        Assert.Equal([seatId], change.Data["seat_ids"]!.AsArray().Select(s => s!.GetValue<long>()).ToArray());
    }

    [Fact]
    public async Task Stopping_the_node_ends_open_streams_at_once()
    {
        var app = await TestApp.StartAsync(PostgresServer.Instance);
        var show = await TestCatalogue.ShowAsync(app.DataSource, rows: 1, seatsPerRow: 2);
        await using var feed = await SseSubscriber.OpenAsync(app.CreateClient(), $"/shows/{show.ShowId}/seats/stream");
        Assert.Equal("snapshot", (await feed.NextAsync()).Type);

        var stopped = Stopwatch.StartNew();
        var stop = app.DisposeAsync().AsTask();

        // Well inside the host's 30 s shutdown timeout, which an open stream used to run out.
        Assert.True(await feed.EndsWithinAsync(TimeSpan.FromSeconds(10)), "The stream stayed open while the node stopped.");
        await stop;
        Assert.True(stopped.Elapsed < TimeSpan.FromSeconds(10), $"Stopping took {stopped.Elapsed.TotalSeconds:0.0} s.");
    }

    [Fact]
    public async Task Reconnecting_with_Last_Event_ID_replays_exactly_the_missed_events()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource, rows: 4, seatsPerRow: 6);
        var (client, _) = await App.CustomerAsync();
        string lastSeen;
        await using (var feed = await SseSubscriber.OpenAsync(App.CreateClient(), $"/shows/{show.ShowId}/seats/stream"))
        {
            await feed.NextAsync(); // snapshot
            await client.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "1A" } }).ExpectAsync(HttpStatusCode.Created);
            lastSeen = (await feed.NextAsync()).Id!;
            Assert.Equal("1", lastSeen);
        }

        // While disconnected: three more changes.
        var missed = new List<string>();
        foreach (var seat in new[] { "2A", "3A" })
        {
            var hold = await client.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { seat } }).ExpectAsync(HttpStatusCode.Created);
            missed.Add(seat);
            if (seat == "3A")
            {
                await client.DeleteAsync($"/holds/{hold["hold_id"]}").ExpectAsync(HttpStatusCode.NoContent);
            }
        }

        await using var resumed = await SseSubscriber.OpenAsync(App.CreateClient(), $"/shows/{show.ShowId}/seats/stream", lastEventId: lastSeen);
        var replay = new[] { await resumed.NextAsync(), await resumed.NextAsync(), await resumed.NextAsync() };
        Assert.Equal(["2", "3", "4"], replay.Select(e => e.Id!).ToArray());
        Assert.Equal(["held", "held", "released"], replay.Select(e => e.Data["kind"]!.GetValue<string>()).ToArray());
        Assert.All(replay, e => Assert.Equal("seats", e.Type));

        // Then live again, continuing the sequence with no duplicate.
        await client.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "4A" } }).ExpectAsync(HttpStatusCode.Created);
        Assert.Equal("5", (await resumed.NextAsync()).Id);
    }

    [Fact]
    public async Task A_subscriber_sees_every_change_of_a_burst_in_order()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource, rows: 10, seatsPerRow: 10, premiumRows: 0);
        var customers = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => App.CustomerAsync()));
        await using var feed = await SseSubscriber.OpenAsync(App.CreateClient(), $"/shows/{show.ShowId}/seats/stream");
        await feed.NextAsync();

        await Task.WhenAll(customers.Select(c => c.Client.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { category = "standard", quantity = 2 })));

        var events = new List<SseEvent>();
        for (var i = 0; i < 20; i++)
        {
            events.Add(await feed.NextAsync());
        }

        Assert.Equal(Enumerable.Range(1, 20).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)), events.Select(e => e.Id));
        var seats = events.SelectMany(e => e.Data["seat_ids"]!.AsArray().Select(s => s!.GetValue<long>())).ToList();
        Assert.Equal(40, seats.Distinct().Count());
    }

    [Fact]
    public async Task A_client_ahead_of_the_feed_gets_a_fresh_snapshot_then_live_changes()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource);
        await using var feed = await SseSubscriber.OpenAsync(App.CreateClient(), $"/shows/{show.ShowId}/seats/stream", lastEventId: "999");

        var snapshot = await feed.NextAsync();
        Assert.Equal(("snapshot", "0", 0L), (snapshot.Type, snapshot.Id, snapshot.Data["seq"]!.GetValue<long>()));
        Assert.Equal(30, snapshot.Data["seats"]!.AsArray().Count);

        // The client now counts from the snapshot, not from the id it came with.
        var (client, _) = await App.CustomerAsync();
        await client.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "1A" } }).ExpectAsync(HttpStatusCode.Created);
        var held = await feed.NextAsync();
        Assert.Equal(("seats", "1", "held"), (held.Type, held.Id, held.Data["state"]!.GetValue<string>()));
    }

    [Fact]
    public async Task Bad_stream_requests_get_problem_details()
    {
        using var client = App.CreateClient();
        var show = await TestCatalogue.ShowAsync(App.DataSource);
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/shows/{show.ShowId}/seats/stream");
        request.Headers.Add("Last-Event-ID", "yesterday");
        using var bad = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("last_event_id", await bad.Content.ReadAsStringAsync());

        using var missing = await client.GetAsync("/shows/424242/seats/stream");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task The_seat_map_endpoint_returns_states_and_the_sequence_to_resume_from()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource, rows: 2, seatsPerRow: 3);
        var (client, _) = await App.CustomerAsync();
        await client.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "1B" } }).ExpectAsync(HttpStatusCode.Created);

        var map = await client.GetAsync($"/shows/{show.ShowId}/seats").ExpectAsync(HttpStatusCode.OK);

        Assert.Equal(1, map["seq"]!.GetValue<long>());
        var states = map["seats"]!.AsArray().ToDictionary(s => s!["label"]!.GetValue<string>(), s => s!["state"]!.GetValue<string>());
        Assert.Equal("held", states["1B"]);
        Assert.Equal(5, states.Values.Count(s => s == "available"));
        Assert.Equal(5000, map["prices"]!["premium"]!.GetValue<long>());
        await client.GetAsync("/shows/424242/seats").ExpectAsync(HttpStatusCode.NotFound);
    }
}

/// <summary>A feed that replays at most <see cref="MaxReplayEvents"/> events to a reconnecting client.</summary>
public sealed class ShortReplayFixture : AppFixture
{
    public const int MaxReplayEvents = 3;

    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        ["SeatStream:MaxReplayEvents"] = MaxReplayEvents.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}

public sealed class SeatStreamReplayLimitTests(ShortReplayFixture fixture) : IClassFixture<ShortReplayFixture>
{
    private TestApp App => fixture.App;

    [Fact]
    public async Task A_client_further_behind_than_the_feed_replays_gets_a_snapshot_of_now_then_live_changes()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource, rows: 1, seatsPerRow: 6, premiumRows: 0);
        var path = $"/shows/{show.ShowId}/seats/stream";
        var (client, _) = await App.CustomerAsync();

        // Events 1 to 5: 1A, 1B, 1C and 1D held, then 1D released.
        JsonObject? last = null;
        foreach (var seat in new[] { "1A", "1B", "1C", "1D" })
        {
            last = await client.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { seat } }).ExpectAsync(HttpStatusCode.Created);
        }

        await client.DeleteAsync($"/holds/{last!["hold_id"]}").ExpectAsync(HttpStatusCode.NoContent);
        Assert.Equal(5L, await App.DataSource.ScalarAsync<long>($"select last_seq from seat_feed where show_id = {show.ShowId}"));

        // Exactly as far behind as the feed replays (5 - 2 = 3): the missed events, nothing else.
        await using var justInReach = await SseSubscriber.OpenAsync(App.CreateClient(), path, lastEventId: "2");
        var replay = new[] { await justInReach.NextAsync(), await justInReach.NextAsync(), await justInReach.NextAsync() };
        Assert.Equal([("seats", "3"), ("seats", "4"), ("seats", "5")], replay.Select(e => (e.Type, e.Id!)).ToArray());

        // One event further behind (5 - 1 = 4): no replay, but the whole seat map as it is now.
        await using var tooFarBehind = await SseSubscriber.OpenAsync(App.CreateClient(), path, lastEventId: "1");
        var snapshot = await tooFarBehind.NextAsync();
        Assert.Equal(("snapshot", "5", 5L), (snapshot.Type, snapshot.Id, snapshot.Data["seq"]!.GetValue<long>()));
        var states = snapshot.Data["seats"]!.AsArray().ToDictionary(s => s!["label"]!.GetValue<string>(), s => s!["state"]!.GetValue<string>());
        Assert.Equal(
            new Dictionary<string, string> { ["1A"] = "held", ["1B"] = "held", ["1C"] = "held", ["1D"] = "available", ["1E"] = "available", ["1F"] = "available" },
            states);

        // Both go on live from event 6, with none of the events before it sent after the snapshot.
        await client.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "1E" } }).ExpectAsync(HttpStatusCode.Created);
        foreach (var feed in new[] { justInReach, tooFarBehind })
        {
            var live = await feed.NextAsync();
            Assert.Equal(("seats", "6", "held"), (live.Type, live.Id, live.Data["state"]!.GetValue<string>()));
        }
    }
}

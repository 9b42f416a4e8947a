using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using Holdfast.Tests.Infrastructure;

namespace Holdfast.Tests.Features.MyStream;

/// <summary>A node whose holds last 3 seconds and are "expiring soon" from the start.</summary>
public sealed class ShortHoldsFixture : AppFixture
{
    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        ["Holds:DurationSeconds"] = "3",
        ["MyStream:ExpiringSoonSeconds"] = "60",
    };
}

public sealed class MyStreamTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    private TestApp App => fixture.App;

    private static string Kind(SseEvent e) => e.Type;

    [Fact]
    public async Task My_stream_tells_each_status_change_of_my_holds_and_bookings_in_order_and_nobody_else_s()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource);
        var (customer, _) = await App.CustomerAsync();
        var (stranger, _) = await App.CustomerAsync();
        await using var feed = await SseSubscriber.OpenAsync(customer, "/me/stream");
        var ready = await feed.NextAsync();
        Assert.Equal(("ready", "0"), (ready.Type, ready.Id));

        await stranger.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "5A" } }).ExpectAsync(HttpStatusCode.Created);
        var released = await customer.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "1A" } }).ExpectAsync(HttpStatusCode.Created);
        await customer.DeleteAsync($"/holds/{released["hold_id"]}").ExpectAsync(HttpStatusCode.NoContent);
        var hold = await customer.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "1B" } }).ExpectAsync(HttpStatusCode.Created);
        var declined = await customer.PostAsJsonAsync($"/holds/{hold["hold_id"]}/booking", new { payment_method = "pm_card_chargeDeclined" }).ExpectAsync(HttpStatusCode.PaymentRequired);
        var bookingId = declined["booking_id"]!.GetValue<long>();
        await customer.PostAsJsonAsync($"/bookings/{bookingId}/payments", new { payment_method = "pm_card_visa" }).ExpectAsync(HttpStatusCode.Created);
        await customer.PostAsJsonAsync($"/bookings/{bookingId}/cancellation", new { }).ExpectAsync(HttpStatusCode.OK);

        string[] expected = ["hold.held", "hold.released", "hold.held", "booking.pending_payment", "booking.payment_failed", "booking.confirmed", "booking.cancelled", "booking.refunded"];
        var events = new List<SseEvent>();
        foreach (var _ in expected)
        {
            events.Add(await feed.NextAsync());
        }

        Assert.Equal(expected, events.Select(Kind).ToArray());
        Assert.Equal(["1", "2", "3", "4", "5", "6", "7", "8"], events.Select(e => e.Id!).ToArray());
        Assert.All(events, e => Assert.Equal(show.ShowId, e.Data["show_id"]!.GetValue<long>()));
        Assert.Equal(released["hold_id"]!.GetValue<long>(), events[1].Data["hold_id"]!.GetValue<long>());
        Assert.Equal(bookingId, events[5].Data["booking_id"]!.GetValue<long>());
        // PostgreSQL keeps microseconds.
        Assert.Equal(DateTimeOffset.Parse(hold["expires_at"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture),
            DateTimeOffset.Parse(events[2].Data["due_at"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture), TimeSpan.FromMilliseconds(1));
        Assert.NotNull(events[3].Data["due_at"]);
    }

    [Fact]
    public async Task A_reconnect_with_Last_Event_ID_replays_exactly_what_came_after_it()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource);
        var (customer, _) = await App.CustomerAsync();
        foreach (var seat in new[] { "2A", "2B", "2C" })
        {
            await customer.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { seat } }).ExpectAsync(HttpStatusCode.Created);
        }

        await using var resumed = await SseSubscriber.OpenAsync(customer, "/me/stream", lastEventId: "1");
        var second = await resumed.NextAsync();
        var third = await resumed.NextAsync();
        Assert.Equal(("hold.held", "2", "hold.held", "3"), (second.Type, second.Id, third.Type, third.Id));

        // And then live.
        await customer.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "2D" } }).ExpectAsync(HttpStatusCode.Created);
        Assert.Equal("4", (await resumed.NextAsync()).Id);

        using var bad = new HttpRequestMessage(HttpMethod.Get, "/me/stream");
        bad.Headers.Add("Last-Event-ID", "yesterday");
        var problem = await customer.SendAsync(bad).ExpectAsync(HttpStatusCode.BadRequest);
        Assert.NotNull(problem["errors"]!["last_event_id"]);
    }

    [Fact]
    public async Task The_payment_deadline_passing_unpaid_is_told_as_booking_expired()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource);
        var (customer, _) = await App.CustomerAsync();
        var hold = await customer.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "3A" } }).ExpectAsync(HttpStatusCode.Created);
        var declined = await customer.PostAsJsonAsync($"/holds/{hold["hold_id"]}/booking", new { payment_method = "pm_card_chargeDeclined" }).ExpectAsync(HttpStatusCode.PaymentRequired);
        var bookingId = declined["booking_id"]!.GetValue<long>();
        await using var feed = await SseSubscriber.OpenAsync(customer, "/me/stream");
        await feed.NextAsync();

        // The deadline passes: brought forward in SQL, and the deadline job made due now.
        await App.DataSource.ScalarAsync<int>("with b as (update booking set payment_deadline = now() - interval '1 second' where booking_id = $1 returning 1) select count(*)::int from b", bookingId);
        await App.DataSource.ScalarAsync<int>("with j as (update job set run_at = now() where kind = 'payments.deadline' and (payload->>'booking_id')::bigint = $1 and state = 'available' returning 1) select count(*)::int from j", bookingId);

        var expired = await feed.NextAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(("booking.expired", bookingId), (expired.Type, expired.Data["booking_id"]!.GetValue<long>()));
    }
}

public sealed class MyStreamExpiryTests(ShortHoldsFixture fixture) : IClassFixture<ShortHoldsFixture>
{
    [Fact]
    public async Task A_hold_is_told_as_expiring_soon_then_expired()
    {
        var app = fixture.App;
        var show = await TestCatalogue.ShowAsync(app.DataSource);
        var (customer, _) = await app.CustomerAsync();
        await using var feed = await SseSubscriber.OpenAsync(customer, "/me/stream");
        await feed.NextAsync();

        var hold = await customer.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "1A" } }).ExpectAsync(HttpStatusCode.Created);

        var held = await feed.NextAsync();
        var soon = await feed.NextAsync();
        Assert.Equal(("hold.held", "hold.expiring_soon"), (held.Type, soon.Type));
        Assert.Null(soon.Id);
        Assert.Equal(hold["hold_id"]!.GetValue<long>(), soon.Data["hold_id"]!.GetValue<long>());
        var expired = await feed.NextAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(("hold.expired", "2"), (expired.Type, expired.Id));
    }
}

public sealed class MyStreamAcrossNodesTests(TwoNodesFixture nodes) : IClassFixture<TwoNodesFixture>
{
    [Fact]
    public async Task A_change_made_through_one_node_reaches_my_stream_on_the_other_within_a_second()
    {
        var show = await TestCatalogue.ShowAsync(nodes.First.DataSource);
        var email = $"stream{Guid.NewGuid():N}@example.com";
        var (onFirst, _) = await nodes.First.CustomerAsync(email);
        await using var feed = await SseSubscriber.OpenAsync(onFirst, "/me/stream");
        await feed.NextAsync();
        var (onSecond, _) = await nodes.Second.LoginAsync(email, "correct horse battery");

        var delays = new List<TimeSpan>();
        foreach (var seat in new[] { "3A", "3B", "3C", "3D", "3E" })
        {
            var clock = Stopwatch.StartNew();
            await onSecond.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { seat } }).ExpectAsync(HttpStatusCode.Created);
            var committed = clock.Elapsed;
            var held = await feed.NextAsync();
            delays.Add(clock.Elapsed - committed);
            Assert.Equal("hold.held", held.Type);
        }

        Assert.True(delays.Max() < TimeSpan.FromSeconds(1), $"Slowest delivery after the answer: {delays.Max().TotalMilliseconds:0} ms");
    }
}

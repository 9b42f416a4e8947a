using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Holdfast.Tests.Infrastructure;

namespace Holdfast.Tests.Features.Boarding;

public sealed class BoardingTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    private TestApp App => fixture.App;

    // A film starting in 30 minutes: its doors (60 minutes before) are open.
    private Task<TestShow> ShowOpenForCheckInAsync(long ownerId, string kind = "film", string? origin = null, string? destination = null) =>
        TestCatalogue.ShowAsync(App.DataSource, rows: 3, seatsPerRow: 4, premiumRows: 0, startsAt: DateTimeOffset.UtcNow.AddMinutes(kind == "flight" ? 120 : 30),
            kind: kind, originIata: origin, destinationIata: destination, ownerId: ownerId);

    // A ticket's QR code must read back for every code, not only for the few a flow happens to draw:
    // 1,000 codes from the database's own generator, each rendered as the server serves it.
    [Fact]
    public async Task Every_ticket_code_reads_back_from_its_QR_code()
    {
        var codes = await App.DataSource.ScalarAsync<string[]>("select array_agg(ticket_code()) from generate_series(1, 1000)");
        var unread = codes.Where(code =>
        {
            try
            {
                return Boarding.DecodeQr(Holdfast.Features.Boarding.Tickets.Png(code)) != code;
            }
            catch (Xunit.Sdk.NotNullException)
            {
                return true;
            }
        }).ToArray();
        Assert.Empty(unread);
    }

    [Fact]
    public async Task Search_hold_pay_tickets_QR_check_in_and_a_second_scan_is_refused()
    {
        var (organizer, organizerId, staff, staffId) = await Boarding.OrganizerWithStaffAsync(App);
        var show = await ShowOpenForCheckInAsync(organizerId);
        var (customer, _) = await App.CustomerAsync();
        var title = await App.DataSource.ScalarAsync<string>("select title from event where event_id = $1", show.EventId);
        var found = await customer.GetAsync($"/shows?kind=film&q={Uri.EscapeDataString(title)}&limit=100").ExpectAsync(HttpStatusCode.OK);
        Assert.Contains(found["items"]!.AsArray(), i => i!["show_id"]!.GetValue<long>() == show.ShowId);

        var booking = await Boarding.BookAsync(customer, show.ShowId, "1A", "1B");
        var bookingId = booking["booking_id"]!.GetValue<long>();

        var mine = await customer.GetAsync("/me/bookings?status=confirmed&when=upcoming").ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(bookingId, mine["items"]![0]!["booking_id"]!.GetValue<long>());

        var tickets = await Boarding.TicketsAsync(customer, bookingId);
        Assert.Equal(["1A", "1B"], tickets.Select(t => t!["seat"]!.GetValue<string>()).ToArray());
        Assert.All(tickets, t => Assert.Equal("valid", t!["status"]!.GetValue<string>()));
        var ticket = tickets[0]!;
        var code = ticket["code"]!.GetValue<string>();
        Assert.Matches("^[A-Za-z0-9_-]{43}$", code);
        Assert.NotEqual(tickets[1]!["code"]!.GetValue<string>(), code);

        using var png = await customer.GetAsync(ticket["qr_url"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.OK, png.StatusCode);
        Assert.Equal("image/png", png.Content.Headers.ContentType!.MediaType);
        Assert.Equal(code, Boarding.DecodeQr(await png.Content.ReadAsByteArrayAsync()));

        // The door count is on the seat feed, live.
        await using var feed = await SseSubscriber.OpenAsync(App.CreateClient(), $"/shows/{show.ShowId}/seats/stream");
        await feed.NextAsync();
        var admitted = await Boarding.ScanAsync(staff, show.ShowId, code, device: "gate 3").ExpectAsync(HttpStatusCode.OK);
        var counted = await feed.NextAsync();
        Assert.Equal(("checked_in", "booked", 1, 2), (counted.Data["kind"]!.GetValue<string>(), counted.Data["state"]!.GetValue<string>(),
            counted.Data["admitted"]!.GetValue<int>(), counted.Data["expected"]!.GetValue<int>()));
        Assert.Equal([ticket["seat_id"]!.GetValue<long>()], counted.Data["seat_ids"]!.AsArray().Select(i => i!.GetValue<long>()).ToArray());
        Assert.Equal(("1A", staffId, "gate 3"), (admitted["seat"]!.GetValue<string>(), admitted["checked_in_by"]!.GetValue<long>(), admitted["device"]!.GetValue<string>()));

        var again = await Boarding.ScanAsync(organizer, show.ShowId, code, device: "gate 4").ExpectAsync(HttpStatusCode.Conflict);
        Assert.Equal("Ticket already checked in.", again["title"]!.GetValue<string>());
        Assert.Equal(staffId, again["checked_in_by"]!.GetValue<long>());
        Assert.Equal("gate 3", again["device"]!.GetValue<string>());
        Assert.Equal(admitted["checked_in_at"]!.GetValue<DateTimeOffset>(), again["checked_in_at"]!.GetValue<DateTimeOffset>());
        Assert.Contains("gate 3", again["detail"]!.GetValue<string>());

        var after = await Boarding.TicketsAsync(customer, bookingId);
        Assert.Equal(["checked_in", "valid"], after.Select(t => t!["status"]!.GetValue<string>()).ToArray());
        // The refused scan told the feed nothing: the next event is the second admission.
        await Boarding.ScanAsync(staff, show.ShowId, tickets[1]!["code"]!.GetValue<string>()).ExpectAsync(HttpStatusCode.OK);
        var second = await feed.NextAsync();
        Assert.Equal((2, 2), (second.Data["admitted"]!.GetValue<int>(), second.Data["expected"]!.GetValue<int>()));
    }

    [Fact]
    public async Task A_retried_scan_with_the_same_idempotency_key_gets_the_first_answer()
    {
        var (_, organizerId, staff, _) = await Boarding.OrganizerWithStaffAsync(App);
        var show = await ShowOpenForCheckInAsync(organizerId);
        var (customer, _) = await App.CustomerAsync();
        var booking = await Boarding.BookAsync(customer, show.ShowId, "2A");
        var code = (await Boarding.TicketsAsync(customer, booking["booking_id"]!.GetValue<long>()))[0]!["code"]!.GetValue<string>();
        var key = Guid.NewGuid().ToString();

        using var first = await Boarding.ScanAsync(staff, show.ShowId, code, "gate 1", key);
        using var retry = await Boarding.ScanAsync(staff, show.ShowId, code, "gate 1", key);
        using var other = await Boarding.ScanAsync(staff, show.ShowId, code, "gate 1", Guid.NewGuid().ToString());

        Assert.Equal((HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.Conflict), (first.StatusCode, retry.StatusCode, other.StatusCode));
        Assert.True(retry.Headers.TryGetValues("Idempotent-Replayed", out var replayed) && replayed.Single() == "true");
    }

    [Fact]
    public async Task Unknown_void_and_other_show_tickets_get_clear_answers()
    {
        var (_, organizerId, staff, _) = await Boarding.OrganizerWithStaffAsync(App);
        var show = await ShowOpenForCheckInAsync(organizerId);
        var otherShow = await ShowOpenForCheckInAsync(organizerId);
        var (customer, _) = await App.CustomerAsync();
        var booking = await Boarding.BookAsync(customer, show.ShowId, "1A", "1B");
        var bookingId = booking["booking_id"]!.GetValue<long>();
        var tickets = await Boarding.TicketsAsync(customer, bookingId);
        var (kept, cancelled) = (tickets[0]!, tickets[1]!);

        await customer.PostAsJsonAsync($"/bookings/{bookingId}/cancellation", new { seat_ids = new[] { cancelled["seat_id"]!.GetValue<long>() } }).ExpectAsync(HttpStatusCode.OK);

        var after = await Boarding.TicketsAsync(customer, bookingId);
        Assert.Equal(["valid", "void"], after.Select(t => t!["status"]!.GetValue<string>()).ToArray());
        Assert.Null(after[1]!["qr_url"]);
        using (var gonePng = await customer.GetAsync($"/bookings/{bookingId}/tickets/{cancelled["ticket_id"]}.png"))
        {
            Assert.Equal(HttpStatusCode.Gone, gonePng.StatusCode);
        }

        var voided = await Boarding.ScanAsync(staff, show.ShowId, cancelled["code"]!.GetValue<string>()).ExpectAsync(HttpStatusCode.Gone);
        Assert.Equal("Ticket is void.", voided["title"]!.GetValue<string>());
        var unknown = await Boarding.ScanAsync(staff, show.ShowId, "not-a-ticket-code").ExpectAsync(HttpStatusCode.NotFound);
        Assert.Equal("Ticket not found.", unknown["title"]!.GetValue<string>());
        var elsewhere = await Boarding.ScanAsync(staff, otherShow.ShowId, kept["code"]!.GetValue<string>()).ExpectAsync(HttpStatusCode.UnprocessableEntity);
        Assert.Equal("Ticket is for another show.", elsewhere["title"]!.GetValue<string>());

        // The whole booking cancelled: its last ticket is void too.
        await customer.PostAsJsonAsync($"/bookings/{bookingId}/cancellation", new { }).ExpectAsync(HttpStatusCode.OK);
        await Boarding.ScanAsync(staff, show.ShowId, kept["code"]!.GetValue<string>()).ExpectAsync(HttpStatusCode.Gone);
    }

    [Fact]
    public async Task A_cancelled_show_voids_its_tickets()
    {
        var (organizer, organizerId, staff, _) = await Boarding.OrganizerWithStaffAsync(App);
        var show = await ShowOpenForCheckInAsync(organizerId);
        var (customer, _) = await App.CustomerAsync();
        var booking = await Boarding.BookAsync(customer, show.ShowId, "3A");
        var code = (await Boarding.TicketsAsync(customer, booking["booking_id"]!.GetValue<long>()))[0]!["code"]!.GetValue<string>();

        await organizer.PostAsync($"/shows/{show.ShowId}/cancel", null).ExpectAsync(HttpStatusCode.OK);

        await Boarding.ScanAsync(staff, show.ShowId, code).ExpectAsync(HttpStatusCode.Gone);
    }

    [Fact]
    public async Task Check_in_outside_the_window_is_refused_naming_the_window()
    {
        var (_, organizerId, staff, _) = await Boarding.OrganizerWithStaffAsync(App);
        var startsAt = DateTimeOffset.UtcNow.AddHours(5);
        var show = await TestCatalogue.ShowAsync(App.DataSource, rows: 1, seatsPerRow: 2, premiumRows: 0, startsAt: startsAt, ownerId: organizerId);
        var (customer, _) = await App.CustomerAsync();
        var booking = await Boarding.BookAsync(customer, show.ShowId, "1A");
        var code = (await Boarding.TicketsAsync(customer, booking["booking_id"]!.GetValue<long>()))[0]!["code"]!.GetValue<string>();

        var closed = await Boarding.ScanAsync(staff, show.ShowId, code).ExpectAsync(HttpStatusCode.Conflict);

        Assert.Equal("Check-in is closed.", closed["title"]!.GetValue<string>());
        Assert.Equal(startsAt.AddMinutes(-60).ToUnixTimeSeconds(), closed["opens_at"]!.GetValue<DateTimeOffset>().ToUnixTimeSeconds());
        Assert.Equal(startsAt.AddHours(2).ToUnixTimeSeconds(), closed["closes_at"]!.GetValue<DateTimeOffset>().ToUnixTimeSeconds());
    }

    [Fact]
    public async Task Staff_board_only_their_organizers_shows_and_lose_access_when_removed()
    {
        var (organizer, organizerId, staff, staffId) = await Boarding.OrganizerWithStaffAsync(App);
        var (_, otherOrganizerId) = await App.OrganizerAsync();
        var mine = await ShowOpenForCheckInAsync(organizerId);
        var theirs = await ShowOpenForCheckInAsync(otherOrganizerId);
        var (customer, _) = await App.CustomerAsync();
        var booking = await Boarding.BookAsync(customer, theirs.ShowId, "1A");
        var code = (await Boarding.TicketsAsync(customer, booking["booking_id"]!.GetValue<long>()))[0]!["code"]!.GetValue<string>();

        await Boarding.ScanAsync(staff, theirs.ShowId, code).ExpectAsync(HttpStatusCode.NotFound);
        await Boarding.ScanAsync(customer, theirs.ShowId, code).ExpectAsync(HttpStatusCode.NotFound);
        using (var manifest = await staff.GetAsync($"/shows/{theirs.ShowId}/manifest"))
        {
            Assert.Equal(HttpStatusCode.NotFound, manifest.StatusCode);
        }

        using (var allowed = await staff.GetAsync($"/shows/{mine.ShowId}/manifest"))
        {
            Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
        }

        // Staff are not organizers: catalogue management stays closed to them.
        using (var notice = await staff.PostAsJsonAsync($"/shows/{mine.ShowId}/notices", new { subject = "x", message = "y" }))
        {
            Assert.Equal(HttpStatusCode.Forbidden, notice.StatusCode);
        }

        using (var list = await organizer.GetAsync("/staff"))
        {
            var members = (await list.Content.ReadFromJsonAsync<JsonArray>())!;
            Assert.Equal([staffId], members.Select(m => m!["user_id"]!.GetValue<long>()).ToArray());
        }

        using (var removed = await organizer.DeleteAsync($"/staff/{staffId}"))
        {
            Assert.Equal(HttpStatusCode.NoContent, removed.StatusCode);
        }

        using var after = await staff.GetAsync($"/shows/{mine.ShowId}/manifest");
        Assert.Equal(HttpStatusCode.NotFound, after.StatusCode);
    }

    [Fact]
    public async Task The_manifest_lists_each_sold_seat_with_counts_as_JSON_and_RFC_4180_CSV()
    {
        var (organizer, organizerId, staff, _) = await Boarding.OrganizerWithStaffAsync(App);
        var show = await ShowOpenForCheckInAsync(organizerId);
        var (customer, _) = await App.CustomerAsync();
        var booking = await Boarding.BookAsync(customer, show.ShowId, "2A", "2B");
        var bookingId = booking["booking_id"]!.GetValue<long>();
        var tickets = await Boarding.TicketsAsync(customer, bookingId);
        using (var named = await customer.PutAsJsonAsync($"/bookings/{bookingId}/seats/{tickets[0]!["seat_id"]}/name", new { name = "Lima, Ana \"Nana\"" }))
        {
            Assert.Equal(HttpStatusCode.NoContent, named.StatusCode);
        }

        await Boarding.ScanAsync(staff, show.ShowId, tickets[0]!["code"]!.GetValue<string>()).ExpectAsync(HttpStatusCode.OK);

        var manifest = await organizer.GetAsync($"/shows/{show.ShowId}/manifest").ExpectAsync(HttpStatusCode.OK);
        Assert.Equal((2, 1), (manifest["expected"]!.GetValue<int>(), manifest["admitted"]!.GetValue<int>()));
        var entries = manifest["entries"]!.AsArray();
        Assert.Equal(["2A", "2B"], entries.Select(e => e!["seat"]!.GetValue<string>()).ToArray());
        Assert.Equal(["checked_in", "valid"], entries.Select(e => e!["status"]!.GetValue<string>()).ToArray());
        Assert.Equal("Lima, Ana \"Nana\"", entries[0]!["attendee_name"]!.GetValue<string>());
        Assert.Equal(bookingId, entries[0]!["booking_id"]!.GetValue<long>());
        Assert.DoesNotContain(tickets[0]!["code"]!.GetValue<string>(), manifest.ToJsonString());

        using var request = new HttpRequestMessage(HttpMethod.Get, $"/shows/{show.ShowId}/manifest");
        request.Headers.Accept.ParseAdd("text/csv");
        using var csvResponse = await staff.SendAsync(request);
        Assert.Equal("text/csv", csvResponse.Content.Headers.ContentType!.MediaType);
        var csv = await csvResponse.Content.ReadAsStringAsync();
        var lines = csv.Split("\r\n");
        Assert.Equal(4, lines.Length); // header, two seats, and the empty string after the last CRLF
        Assert.Equal("", lines[^1]);
        Assert.StartsWith("seat,category,booking_id,ticket_id,ticket_code,attendee_name,customer_name,status,checked_in_at,checked_in_by", lines[0]);
        Assert.Contains(",\"Lima, Ana \"\"Nana\"\"\",", lines[1]);
        Assert.StartsWith("2A,standard," + bookingId, lines[1]);

        using var byQuery = await staff.GetAsync($"/shows/{show.ShowId}/manifest?format=csv");
        Assert.Equal(csv, await byQuery.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_flight_ticket_needs_a_passenger_name_which_is_fixed_once_admitted()
    {
        await TestCatalogue.AirportAsync(App.DataSource, "LHR", "London", "GB", "Europe/London");
        await TestCatalogue.AirportAsync(App.DataSource, "JFK", "New York", "US", "America/New_York");
        var (_, organizerId, staff, _) = await Boarding.OrganizerWithStaffAsync(App);
        var show = await ShowOpenForCheckInAsync(organizerId, "flight", "LHR", "JFK");
        var (customer, _) = await App.CustomerAsync();
        var booking = await Boarding.BookAsync(customer, show.ShowId, "1C");
        var bookingId = booking["booking_id"]!.GetValue<long>();
        var ticket = (await Boarding.TicketsAsync(customer, bookingId))[0]!;
        var code = ticket["code"]!.GetValue<string>();

        var unnamed = await Boarding.ScanAsync(staff, show.ShowId, code).ExpectAsync(HttpStatusCode.Conflict);
        Assert.Equal("Passenger name required.", unnamed["title"]!.GetValue<string>());

        using (var named = await customer.PutAsJsonAsync($"/bookings/{bookingId}/seats/{ticket["seat_id"]}/name", new { name = "Ana Lima" }))
        {
            Assert.Equal(HttpStatusCode.NoContent, named.StatusCode);
        }

        Assert.Equal("Ana Lima", (await Boarding.TicketsAsync(customer, bookingId))[0]!["attendee_name"]!.GetValue<string>());
        var admitted = await Boarding.ScanAsync(staff, show.ShowId, code).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("Ana Lima", admitted["attendee_name"]!.GetValue<string>());

        using var rename = await customer.PutAsJsonAsync($"/bookings/{bookingId}/seats/{ticket["seat_id"]}/name", new { name = "Someone Else" });
        Assert.Equal(HttpStatusCode.Conflict, rename.StatusCode);
        var (stranger, _) = await App.CustomerAsync();
        using var strangers = await stranger.PutAsJsonAsync($"/bookings/{bookingId}/seats/{ticket["seat_id"]}/name", new { name = "Mallory" });
        Assert.Equal(HttpStatusCode.NotFound, strangers.StatusCode);
    }

    [Fact]
    public async Task Tickets_are_the_customers_own()
    {
        var (_, organizerId) = await App.OrganizerAsync();
        var show = await ShowOpenForCheckInAsync(organizerId);
        var (customer, _) = await App.CustomerAsync();
        var (stranger, _) = await App.CustomerAsync();
        var booking = await Boarding.BookAsync(customer, show.ShowId, "3B");
        var bookingId = booking["booking_id"]!.GetValue<long>();
        var ticket = (await Boarding.TicketsAsync(customer, bookingId))[0]!;

        using var list = await stranger.GetAsync($"/bookings/{bookingId}/tickets");
        using var png = await stranger.GetAsync($"/bookings/{bookingId}/tickets/{ticket["ticket_id"]}.png");

        Assert.Equal((HttpStatusCode.NotFound, HttpStatusCode.NotFound), (list.StatusCode, png.StatusCode));
    }
}

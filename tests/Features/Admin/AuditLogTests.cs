using System.Net;
using System.Net.Http.Json;
using Holdfast.Tests.Infrastructure;

namespace Holdfast.Tests.Features.Admin;

public sealed class AuditLogTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    private TestApp App => fixture.App;

    [Fact]
    public async Task Catalogue_changes_and_bookings_are_recorded_with_who_and_before_after()
    {
        var (organizer, organizerId) = await App.OrganizerAsync();
        var (admin, _) = await App.AdminAsync();
        var venue = await organizer.PostAsJsonAsync("/venues", new
        {
            name = $"Coach {Guid.NewGuid():N}",
            kind = "coach",
            layout = new { sections = new object[] { new { name = "main", category = "standard", rows = "1-3", seats = "ABCD" } } },
        }).ExpectAsync(HttpStatusCode.Created);
        var show = await TestCatalogue.ShowAsync(App.DataSource, ownerId: organizerId);
        var (customer, customerId) = await App.CustomerAsync();
        var hold = await customer.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "1A" } }).ExpectAsync(HttpStatusCode.Created);
        var booking = await customer.PostAsync($"/holds/{hold["hold_id"]}/booking", null).ExpectAsync(HttpStatusCode.Created);
        await organizer.PostAsync($"/shows/{show.ShowId}/cancel", null).ExpectAsync(HttpStatusCode.OK);

        var venueEntries = await admin.GetFromJsonAsync<System.Text.Json.Nodes.JsonArray>($"/admin/audit?entity=venue&entity_id={venue["venue_id"]}");
        var created = Assert.Single(venueEntries!);
        Assert.Equal("venue.created", created!["action"]!.GetValue<string>());
        Assert.Equal(organizerId, created["actor_user_id"]!.GetValue<long>());
        Assert.Equal(12, created["after"]!["seat_count"]!.GetValue<int>());

        // The customer created the booking; the payment (the system, no actor) confirmed it.
        var bookingEntries = (await admin.GetFromJsonAsync<System.Text.Json.Nodes.JsonArray>($"/admin/audit?entity=booking&entity_id={booking["booking_id"]}"))!;
        Assert.Equal(["booking.confirmed", "booking.created"], bookingEntries.Select(e => e!["action"]!.GetValue<string>()).ToArray());
        Assert.Equal(customerId, bookingEntries[1]!["actor_user_id"]!.GetValue<long>());
        Assert.Null(bookingEntries[0]!["actor_user_id"]);
        Assert.Equal("pending_payment", bookingEntries[0]!["before"]!["status"]!.GetValue<string>());

        var cancelled = Assert.Single((await admin.GetFromJsonAsync<System.Text.Json.Nodes.JsonArray>($"/admin/audit?entity=show&entity_id={show.ShowId}"))!);
        Assert.Equal(("on_sale", "cancelled"), (cancelled!["before"]!["status"]!.GetValue<string>(), cancelled["after"]!["status"]!.GetValue<string>()));
    }

    [Fact]
    public async Task The_audit_log_filters_by_its_snake_case_parameters_and_pages_by_before_id()
    {
        var (organizer, organizerId) = await App.OrganizerAsync();
        var (admin, _) = await App.AdminAsync();
        var ids = new List<long>();
        for (var i = 0; i < 3; i++)
        {
            var created = await organizer.PostAsJsonAsync("/events", new { kind = "film", title = $"Filtered {i}", duration_minutes = 60 }).ExpectAsync(HttpStatusCode.Created);
            ids.Add(created["event_id"]!.GetValue<long>());
        }

        var one = (await admin.GetFromJsonAsync<System.Text.Json.Nodes.JsonArray>($"/admin/audit?entity=event&entity_id={ids[1]}"))!;
        Assert.Equal(ids[1], Assert.Single(one)!["entity_id"]!.GetValue<long>());

        var mine = (await admin.GetFromJsonAsync<System.Text.Json.Nodes.JsonArray>($"/admin/audit?entity=event&actor_user_id={organizerId}&limit=2"))!;
        Assert.Equal([ids[2], ids[1]], mine.Select(e => e!["entity_id"]!.GetValue<long>()));
        var next = (await admin.GetFromJsonAsync<System.Text.Json.Nodes.JsonArray>(
            $"/admin/audit?entity=event&actor_user_id={organizerId}&limit=2&before_id={mine[1]!["audit_log_id"]}"))!;
        Assert.Equal(ids[0], Assert.Single(next)!["entity_id"]!.GetValue<long>());
    }

    [Fact]
    public async Task The_audit_log_refuses_updates_and_deletes()
    {
        var (organizer, _) = await App.OrganizerAsync();
        await organizer.PostAsJsonAsync("/events", new { kind = "film", title = "Audited", duration_minutes = 60 }).ExpectAsync(HttpStatusCode.Created);

        foreach (var sql in new[] { "update audit_log set action = 'nothing'", "delete from audit_log" })
        {
            await using var command = App.DataSource.CreateCommand(sql);
            var error = await Assert.ThrowsAsync<Npgsql.PostgresException>(() => command.ExecuteNonQueryAsync());
            Assert.Contains("append-only", error.MessageText, StringComparison.Ordinal);
        }
    }
}

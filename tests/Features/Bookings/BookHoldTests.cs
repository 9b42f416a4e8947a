using System.Net;
using System.Net.Http.Json;
using Holdfast.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Holdfast.Tests.Features.Bookings;

public sealed class BookHoldTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    private TestApp App => fixture.App;

    [Fact]
    public async Task Booking_a_live_hold_confirms_it_and_books_its_seats()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource);
        var (client, _) = await App.CustomerAsync();
        var hold = await client.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "1A", "5F" } }).ExpectAsync(HttpStatusCode.Created);
        var holdId = hold["hold_id"]!.GetValue<long>();

        var booking = await client.PostAsync($"/holds/{holdId}/booking", null).ExpectAsync(HttpStatusCode.Created);

        Assert.Equal("confirmed", booking["status"]!.GetValue<string>());
        Assert.Equal(7000, booking["total_minor"]!.GetValue<long>());
        Assert.Equal(["1A", "5F"], booking["seats"]!.AsArray().Select(s => s!["label"]!.GetValue<string>()).Order().ToArray());
        Assert.Equal("fake", booking["payment_provider"]!.GetValue<string>());
        var bookingId = booking["booking_id"]!.GetValue<long>();

        var fetched = await client.GetAsync($"/bookings/{bookingId}").ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(bookingId, fetched["booking_id"]!.GetValue<long>());

        await using var command = App.DataSource.CreateCommand($"""
            select (select count(*) from show_seat where show_id = {show.ShowId} and state = 'booked' and booking_id = {bookingId}),
                   (select status from hold where hold_id = {holdId}),
                   (select count(*) from job where unique_key = 'hold:{holdId}'),
                   (select count(*) from job where kind = 'payments.deadline' and unique_key = 'deadline:{bookingId}'),
                   (select string_agg(state, ',') from job where kind = 'payments.deadline' and unique_key = 'deadline:{bookingId}')
            """);
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        Assert.Equal(2, reader.GetInt64(0));
        Assert.Equal("booked", reader.GetString(1));
        // The hold's expiry job became the booking's payment-deadline job at checkout (one row).
        Assert.Equal(0, reader.GetInt64(2));
        Assert.Equal(1, reader.GetInt64(3));
        // Confirmed, the booking has nothing left for its deadline to settle: cancelled in the same commit.
        Assert.Equal("cancelled", reader.GetString(4));
    }

    [Fact]
    public async Task A_booking_is_visible_only_to_its_owner()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource);
        var (owner, _) = await App.CustomerAsync();
        var (stranger, _) = await App.CustomerAsync();
        var hold = await owner.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "2A" } }).ExpectAsync(HttpStatusCode.Created);

        await stranger.PostAsync($"/holds/{hold["hold_id"]}/booking", null).ExpectAsync(HttpStatusCode.NotFound);
        var booking = await owner.PostAsync($"/holds/{hold["hold_id"]}/booking", null).ExpectAsync(HttpStatusCode.Created);

        await stranger.GetAsync($"/bookings/{booking["booking_id"]}").ExpectAsync(HttpStatusCode.NotFound);
        using var anonymous = App.CreateClient();
        using var response = await anonymous.GetAsync($"/bookings/{booking["booking_id"]}");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task Booking_twice_or_after_release_returns_409()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource);
        var (client, _) = await App.CustomerAsync();
        var booked = await client.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "3A" } }).ExpectAsync(HttpStatusCode.Created);
        var first = await client.PostAsync($"/holds/{booked["hold_id"]}/booking", null).ExpectAsync(HttpStatusCode.Created);
        var again = await client.PostAsync($"/holds/{booked["hold_id"]}/booking", null).ExpectAsync(HttpStatusCode.Conflict);
        Assert.Equal(first["booking_id"]!.GetValue<long>(), again["booking_id"]!.GetValue<long>());

        var released = await client.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "3B" } }).ExpectAsync(HttpStatusCode.Created);
        await client.DeleteAsync($"/holds/{released["hold_id"]}").ExpectAsync(HttpStatusCode.NoContent);
        await client.PostAsync($"/holds/{released["hold_id"]}/booking", null).ExpectAsync(HttpStatusCode.Conflict);
    }

    [Fact]
    public async Task A_checkout_while_the_holds_expiry_job_runs_still_gets_a_payment_deadline()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource);
        var (client, _) = await App.CustomerAsync();
        var hold = await client.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "3A" } }).ExpectAsync(HttpStatusCode.Created);
        var holdId = hold["hold_id"]!.GetValue<long>();
        // A worker holds the expiry job's lease (it came due early and is running): it cannot be rewritten.
        await App.DataSource.ScalarAsync<long>($"""
            with claimed as (
              update job set state = 'running', attempt = 1, leased_by = 'another-node', lease_expires_at = now() + interval '1 minute', attempted_at = now()
              where unique_key = 'hold:{holdId}' returning 1)
            select count(*) from claimed
            """);

        var declined = await client.PostAsJsonAsync($"/holds/{holdId}/booking", new { payment_method = "pm_card_chargeDeclined" }).ExpectAsync(HttpStatusCode.PaymentRequired);
        var bookingId = declined["booking_id"]!.GetValue<long>();

        // The running expiry stays as it is (it will find the hold extended), and the deadline job is a new row.
        Assert.Equal("running", await App.DataSource.ScalarAsync<string>($"select state from job where kind = 'hold.expire' and unique_key = 'hold:{holdId}'"));
        Assert.Equal(1L, await App.DataSource.ScalarAsync<long>($"select count(*) from job where kind = 'payments.deadline' and unique_key = 'deadline:{bookingId}' and state = 'available'"));
    }

    [Fact]
    public async Task A_hold_past_its_expiry_cannot_be_booked_even_before_the_job_runs()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource);
        var (client, _) = await App.CustomerAsync();
        var hold = await client.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "4A" } }).ExpectAsync(HttpStatusCode.Created);
        var holdId = hold["hold_id"]!.GetValue<long>();
        // Move the expiry into the past and the job far into the future: only the booking's own check stands.
        await using (var command = App.DataSource.CreateCommand($"""
            update hold set created_at = now() - interval '20 minutes', expires_at = now() - interval '1 second' where hold_id = {holdId};
            update job set run_at = now() + interval '1 day' where unique_key = 'hold:{holdId}';
            """))
        {
            await command.ExecuteNonQueryAsync();
        }

        var problem = await client.PostAsync($"/holds/{holdId}/booking", null).ExpectAsync(HttpStatusCode.Conflict);
        Assert.Equal("expired", problem["hold_status"]!.GetValue<string>());
    }

    [Fact]
    public async Task Checkout_racing_release_of_the_same_hold_ends_it_exactly_once()
    {
        var (client, _) = await App.CustomerAsync();
        for (var round = 0; round < 10; round++)
        {
            var show = await TestCatalogue.ShowAsync(App.DataSource, rows: 1, seatsPerRow: 2, premiumRows: 0);
            var hold = await client.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "1A", "1B" } }).ExpectAsync(HttpStatusCode.Created);
            using var barrier = new Barrier(2);
            var book = Task.Run(async () => { barrier.SignalAndWait(); using var r = await client.PostAsync($"/holds/{hold["hold_id"]}/booking", null); return r.StatusCode; });
            var release = Task.Run(async () => { barrier.SignalAndWait(); using var r = await client.DeleteAsync($"/holds/{hold["hold_id"]}"); return r.StatusCode; });
            var (booked, released) = (await book, await release);

            Assert.True((booked == HttpStatusCode.Created) ^ (released == HttpStatusCode.NoContent), $"book {booked}, release {released}");
            Assert.Equal(booked == HttpStatusCode.Created ? "booked" : "available",
                await App.DataSource.ScalarAsync<string>($"select string_agg(distinct state, ',') from show_seat where show_id = {show.ShowId}"));
        }
    }

    [Fact]
    public async Task A_release_queued_behind_a_checkout_sees_the_checkout_and_keeps_the_seats()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource, rows: 1, seatsPerRow: 2, premiumRows: 0);
        var (client, _) = await App.CustomerAsync();
        var hold = await client.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "1A", "1B" } }).ExpectAsync(HttpStatusCode.Created);
        var holdId = hold["hold_id"]!.GetValue<long>();
        const string waiting = "select count(*) from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database()";

        // Hold the hold row so that the checkout queues on it first and the release second. A
        // release that judged "no checkout" from a snapshot taken before its lock was granted would
        // free the seats under the checkout that committed ahead of it.
        await using var blocker = await App.DataSource.OpenConnectionAsync();
        await using var transaction = await blocker.BeginTransactionAsync();
        await using (var take = new Npgsql.NpgsqlCommand($"select 1 from hold where hold_id = {holdId} for update", blocker, transaction))
        {
            await take.ExecuteScalarAsync();
        }

        var book = client.PostAsync($"/holds/{holdId}/booking", null);
        await Eventually.EqualAsync(1L, () => App.DataSource.ScalarAsync<long>(waiting));
        var release = client.DeleteAsync($"/holds/{holdId}");
        await Eventually.EqualAsync(2L, () => App.DataSource.ScalarAsync<long>(waiting));
        await transaction.CommitAsync();

        await book.ExpectAsync(HttpStatusCode.Created);
        var problem = await release.ExpectAsync(HttpStatusCode.Conflict);
        Assert.Contains(problem["title"]!.GetValue<string>(), new[] { "Checkout in progress.", "Hold already ended." });
        Assert.Equal("booked", await App.DataSource.ScalarAsync<string>($"select string_agg(distinct state, ',') from show_seat where show_id = {show.ShowId}"));
    }

    [Fact]
    public async Task The_schema_refuses_a_second_live_sale_of_a_seat()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource);
        var (client, _) = await App.CustomerAsync();
        var first = await client.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "5A" } }).ExpectAsync(HttpStatusCode.Created);
        var firstBooking = await client.PostAsync($"/holds/{first["hold_id"]}/booking", null).ExpectAsync(HttpStatusCode.Created);
        var second = await client.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "5B" } }).ExpectAsync(HttpStatusCode.Created);
        var secondBooking = await client.PostAsync($"/holds/{second["hold_id"]}/booking", null).ExpectAsync(HttpStatusCode.Created);

        // Even code that skipped every check could not sell 5A again: the partial unique index says no.
        await using var command = App.DataSource.CreateCommand($"""
            insert into booking_seat (booking_id, show_id, seat_id, category, price_minor)
            select {secondBooking["booking_id"]}, show_id, seat_id, category, 1
            from booking_seat where booking_id = {firstBooking["booking_id"]}
            """);
        var error = await Assert.ThrowsAsync<Npgsql.PostgresException>(() => command.ExecuteNonQueryAsync());
        Assert.Equal("booking_seat_one_active_sale", error.ConstraintName);
    }

    // A hold's and a booking's seats refer to the show's seats (migration 0044): the foreign-key
    // checks lock the show_seat rows the same statements update, never the venue's seat rows, which
    // every show of the venue shares (a MultiXact whenever two of them overlap).
    [Fact]
    public async Task A_hold_and_its_booking_lock_no_row_of_the_venue_s_seats()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource);
        var (client, _) = await App.CustomerAsync();
        var hold = await client.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "3A", "3B" } }).ExpectAsync(HttpStatusCode.Created);
        var booking = await client.PostAsync($"/holds/{hold["hold_id"]}/booking", null).ExpectAsync(HttpStatusCode.Created);

        // A row's xmax is the last transaction that locked or updated it: neither the hold's nor the booking's.
        Assert.Equal(0, await App.DataSource.ScalarAsync<long>($"""
            select count(*) from seat se
            where se.seat_id in (select seat_id from booking_seat where booking_id = {booking["booking_id"]})
              and (se.xmax in (select xmin from hold_seat where hold_id = {hold["hold_id"]})
                   or se.xmax in (select xmin from booking_seat where booking_id = {booking["booking_id"]}))
            """));
        Assert.Equal(2, await App.DataSource.ScalarAsync<long>($"select count(*) from hold_seat where hold_id = {hold["hold_id"]} and show_id = {show.ShowId}"));
    }

    [Fact]
    public async Task The_schema_refuses_a_held_or_booked_seat_that_is_not_a_seat_of_the_show()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource);
        var other = await TestCatalogue.ShowAsync(App.DataSource);
        var (client, _) = await App.CustomerAsync();
        var hold = await client.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "4A" } }).ExpectAsync(HttpStatusCode.Created);
        var booking = await client.PostAsync($"/holds/{hold["hold_id"]}/booking", null).ExpectAsync(HttpStatusCode.Created);
        var foreignSeat = await App.DataSource.ScalarAsync<long>($"select seat_id from show_seat where show_id = {other.ShowId} limit 1");

        foreach (var (sql, constraint) in new[]
        {
            ($"insert into hold_seat (hold_id, show_id, seat_id, category, price_minor) values ({hold["hold_id"]}, {show.ShowId}, {foreignSeat}, 'standard', 1)", "hold_seat_show_seat_fk"),
            ($"insert into booking_seat (booking_id, show_id, seat_id, category, price_minor) values ({booking["booking_id"]}, {show.ShowId}, {foreignSeat}, 'standard', 1)", "booking_seat_show_seat_fk"),
        })
        {
            await using var command = App.DataSource.CreateCommand(sql);
            var error = await Assert.ThrowsAsync<Npgsql.PostgresException>(() => command.ExecuteNonQueryAsync());
            Assert.Equal(constraint, error.ConstraintName);
        }
    }

    // PostgreSQL planned the confirmation statement again for every booking (a custom plan looked
    // cheaper than the generic one, which is the same key lookups): 0.85 ms of planning per
    // booking in the bench. Sql.GenericPlansSql in its batch makes it plan once per connection.
    [Fact]
    public async Task The_confirmation_statement_is_planned_once_per_connection_not_per_booking()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource);
        var announcer = App.Services.GetRequiredService<Holdfast.Infrastructure.SeatFeed.SeatFeedAnnouncer>();
        // The app's data source: it prepares a statement on its fifth use (the tests' own does not prepare).
        await using var connection = await App.Services.GetRequiredService<Npgsql.NpgsqlDataSource>().OpenConnectionAsync();
        foreach (var label in show.Labels.Take(12))
        {
            var (client, _) = await App.CustomerAsync();
            var holdId = (await client.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { label } }).ExpectAsync(HttpStatusCode.Created))["hold_id"]!.GetValue<long>();
            var bookingId = await App.DataSource.ScalarAsync<long>("""
                insert into booking (hold_id, show_id, app_user_id, status, currency, total_minor, payment_provider, created_at, payment_deadline)
                select hold_id, show_id, app_user_id, 'pending_payment', currency, total_minor, 'fake', now(), now() + interval '15 minutes' from hold where hold_id = $1
                returning booking_id
                """, holdId);
            await using var seats = await Holdfast.Features.Inventory.SeatTransaction.BeginAsync(connection, announcer, CancellationToken.None);
            Assert.True(await Holdfast.Features.Inventory.SeatInventory.BookAsync(seats, bookingId, holdId, show.ShowId, DateTimeOffset.UtcNow, CancellationToken.None));
            await seats.CommitAsync(CancellationToken.None);
        }

        // Per prepared statement of this session: plans made for the values given, and runs of the generic plan.
        await using var plans = new Npgsql.NpgsqlCommand("select custom_plans, generic_plans from pg_prepared_statements where statement like '%with wanted as%'", connection);
        await using var reader = await plans.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync(), "the confirmation statement is prepared");
        Assert.Equal(0, reader.GetInt64(0));
        Assert.True(reader.GetInt64(1) >= 5, $"{reader.GetInt64(1)} runs of the generic plan");
    }
}

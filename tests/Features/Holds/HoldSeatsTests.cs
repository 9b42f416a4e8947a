using System.Net;
using System.Net.Http.Json;
using Holdfast.Tests.Infrastructure;
using Npgsql;

namespace Holdfast.Tests.Features.Holds;

public sealed class HoldSeatsTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    private TestApp App => fixture.App;

    [Fact]
    public async Task Holding_named_seats_locks_their_prices_and_marks_them_held()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource);
        var (client, userId) = await App.CustomerAsync();

        var hold = await client.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "1A", "2A" } }).ExpectAsync(HttpStatusCode.Created);

        Assert.Equal("active", hold["status"]!.GetValue<string>());
        Assert.Equal("GBP", hold["currency"]!.GetValue<string>());
        Assert.Equal(5000 + 2000, hold["total_minor"]!.GetValue<long>());
        var expiresAt = hold["expires_at"]!.GetValue<DateTimeOffset>();
        Assert.InRange(expiresAt - DateTimeOffset.UtcNow, TimeSpan.FromMinutes(9), TimeSpan.FromMinutes(10.5));
        var holdId = hold["hold_id"]!.GetValue<long>();

        // Prices are locked: a later price change does not alter the hold.
        await Sql($"update show_price set amount_minor = 9999 where show_id = {show.ShowId}");
        Assert.Equal(7000L, await App.DataSource.ScalarAsync<long>($"select sum(price_minor)::bigint from hold_seat where hold_id = {holdId}"));
        Assert.Equal(2L, await App.DataSource.ScalarAsync<long>($"select count(*) from show_seat where show_id = {show.ShowId} and state = 'held' and hold_id = {holdId}"));
        Assert.Equal(userId, await App.DataSource.ScalarAsync<long>($"select app_user_id from hold where hold_id = {holdId}"));
        Assert.Equal(1L, await App.DataSource.ScalarAsync<long>($"select count(*) from job where kind = 'hold.expire' and unique_key = 'hold:{holdId}' and run_at = (select expires_at from hold where hold_id = {holdId})"));
    }

    [Fact]
    public async Task Holding_a_held_seat_returns_409_naming_it_and_holds_nothing()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource);
        var (first, _) = await App.CustomerAsync();
        var (second, _) = await App.CustomerAsync();
        await first.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "3C" } }).ExpectAsync(HttpStatusCode.Created);

        var problem = await second.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "3B", "3C", "3D" } }).ExpectAsync(HttpStatusCode.Conflict);

        Assert.Equal(["3C"], problem["unavailable_seats"].Strings());
        Assert.Equal(1L, await App.DataSource.ScalarAsync<long>($"select count(*) from show_seat where show_id = {show.ShowId} and state = 'held'"));
    }

    [Fact]
    public async Task A_request_for_a_seat_already_taken_is_answered_without_waiting_for_locks()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource);
        var (first, _) = await App.CustomerAsync();
        var (second, secondId) = await App.CustomerAsync();
        await first.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "2A" } }).ExpectAsync(HttpStatusCode.Created);

        // Another request of the same customer is mid-hold: it owns the per-customer lock.
        await using var busy = await App.DataSource.OpenConnectionAsync();
        await using var transaction = await busy.BeginTransactionAsync();
        await using (var take = new NpgsqlCommand($"select pg_advisory_xact_lock(hashtextextended('hold-limit:{show.ShowId}:{secondId}', 0))", busy, transaction))
        {
            await take.ExecuteNonQueryAsync();
        }

        var answer = second.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "2A" } });
        var finished = await Task.WhenAny(answer, Task.Delay(TimeSpan.FromSeconds(10)));
        Assert.Same(answer, finished);
        var problem = await answer.ExpectAsync(HttpStatusCode.Conflict);
        Assert.Equal(["2A"], problem["unavailable_seats"].Strings());
    }

    [Fact]
    public async Task Best_available_takes_the_best_ranked_seats_of_the_category()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource, premiumRows: 2);
        var (client, _) = await App.CustomerAsync();

        var hold = await client.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { category = "standard", quantity = 3 }).ExpectAsync(HttpStatusCode.Created);

        var labels = hold["seats"]!.AsArray().Select(s => s!["label"]!.GetValue<string>()).ToArray();
        Assert.Equal(["3A", "3B", "3C"], labels);
        Assert.Equal(6000, hold["total_minor"]!.GetValue<long>());
    }

    [Fact]
    public async Task Best_available_with_too_few_seats_left_returns_409()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource, rows: 2, seatsPerRow: 2, premiumRows: 1);
        var (client, _) = await App.CustomerAsync();

        await client.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { category = "standard", quantity = 3 }).ExpectAsync(HttpStatusCode.Conflict);
        var unknown = await client.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { category = "royal_box", quantity = 1 }).ExpectAsync(HttpStatusCode.BadRequest);
        Assert.True(unknown["errors"]!.AsObject().ContainsKey("category"));
    }

    [Fact]
    public async Task Unknown_seats_return_400_naming_them()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource);
        var (client, _) = await App.CustomerAsync();

        var problem = await client.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "1A", "99Z" } }).ExpectAsync(HttpStatusCode.BadRequest);

        Assert.Contains("99Z", problem["errors"]!["seats"]![0]!.GetValue<string>());
        Assert.Equal(0L, await App.DataSource.ScalarAsync<long>($"select count(*) from show_seat where show_id = {show.ShowId} and state <> 'available'"));
    }

    [Theory]
    [InlineData("""{"seats":["1A"],"category":"standard","quantity":1}""", "seats")]
    [InlineData("""{}""", "seats")]
    [InlineData("""{"seats":[]}""", "seats")]
    [InlineData("""{"seats":["1A","1A"]}""", "seats")]
    [InlineData("""{"seats":["1 A; drop table"]}""", "seats[0]")]
    [InlineData("""{"category":"standard","quantity":0}""", "quantity")]
    [InlineData("""{"category":"standard","quantity":11}""", "quantity")]
    [InlineData("""{"category":"Standard!","quantity":1}""", "category")]
    [InlineData("""{"category":"standard","quantity":"two"}""", "quantity")]
    [InlineData("""{"seats":"1A"}""", "seats")]
    [InlineData("""not json""", "body")]
    public async Task Malformed_or_out_of_range_input_returns_400_naming_the_field(string body, string field)
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource);
        var (client, _) = await App.CustomerAsync();

        using var content = new StringContent(body, System.Text.Encoding.UTF8, "application/json");
        var problem = await client.PostAsync($"/shows/{show.ShowId}/holds", content).ExpectAsync(HttpStatusCode.BadRequest);

        Assert.True(problem["errors"]!.AsObject().ContainsKey(field), $"errors should name {field}: {problem}");
    }

    [Fact]
    public async Task Problem_details_are_served_as_application_problem_json()
    {
        var (client, _) = await App.CustomerAsync();
        using var response = await client.PostAsJsonAsync("/shows/1/holds", new { });
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Holding_without_a_token_returns_401_and_an_unknown_show_404()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource);
        using var anonymous = App.CreateClient();
        using var response = await anonymous.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "1A" } });
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);

        var (client, _) = await App.CustomerAsync();
        await client.PostAsJsonAsync("/shows/987654321/holds", new { seats = new[] { "1A" } }).ExpectAsync(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task A_show_not_on_sale_refuses_holds()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource);
        await Sql($"update show set status = 'cancelled' where show_id = {show.ShowId}");
        var (client, _) = await App.CustomerAsync();

        await client.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "1A" } }).ExpectAsync(HttpStatusCode.Conflict);
    }

    [Fact]
    public async Task The_per_customer_seat_limit_counts_holds_and_bookings()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource, rows: 4, seatsPerRow: 6);
        var (client, _) = await App.CustomerAsync();

        var first = await client.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { category = "standard", quantity = 6 }).ExpectAsync(HttpStatusCode.Created);
        await client.PostAsync($"/holds/{first["hold_id"]}/booking", null).ExpectAsync(HttpStatusCode.Created);
        await client.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { category = "standard", quantity = 4 }).ExpectAsync(HttpStatusCode.Created);

        var problem = await client.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "1A" } }).ExpectAsync(HttpStatusCode.Conflict);
        Assert.Equal(10, problem["limit"]!.GetValue<int>());
        Assert.Equal(10, problem["seats_taken"]!.GetValue<int>());
    }

    [Fact]
    public async Task A_best_available_request_refused_after_its_pick_leaves_every_seat_free_and_unlocked()
    {
        // The party's first pick goes in the round trip that reads the show (decision 0032), so it is
        // made before the show's status and the customer's limit are checked; a refusal must give
        // the picked seats back.
        var show = await TestCatalogue.ShowAsync(App.DataSource, rows: 4, seatsPerRow: 6);
        var (client, _) = await App.CustomerAsync();
        await client.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { category = "standard", quantity = 10 }).ExpectAsync(HttpStatusCode.Created);

        var limit = await client.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { category = "standard", quantity = 2 }).ExpectAsync(HttpStatusCode.Conflict);
        Assert.Equal(10, limit["seats_taken"]!.GetValue<int>());
        await Sql($"update show set status = 'cancelled' where show_id = {show.ShowId}");
        var (other, _) = await App.CustomerAsync();
        await other.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { category = "standard", quantity = 2 }).ExpectAsync(HttpStatusCode.Conflict);

        Assert.Equal(10L, await App.DataSource.ScalarAsync<long>($"select count(*) from show_seat where show_id = {show.ShowId} and state <> 'available'"));
        await using var connection = await App.DataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        await using var unlocked = new NpgsqlCommand($"select count(*) from (select 1 from show_seat where show_id = {show.ShowId} for update skip locked) s", connection, transaction);
        Assert.Equal(await App.DataSource.ScalarAsync<long>($"select count(*) from show_seat where show_id = {show.ShowId}"), (long)(await unlocked.ExecuteScalarAsync())!);
    }

    [Fact]
    public async Task Releasing_a_hold_frees_its_seats_once()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource);
        var (client, _) = await App.CustomerAsync();
        var (stranger, _) = await App.CustomerAsync();
        var hold = await client.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "2B", "2C" } }).ExpectAsync(HttpStatusCode.Created);
        var holdId = hold["hold_id"]!.GetValue<long>();

        await stranger.DeleteAsync($"/holds/{holdId}").ExpectAsync(HttpStatusCode.NotFound);
        await client.DeleteAsync($"/holds/{holdId}").ExpectAsync(HttpStatusCode.NoContent);
        var again = await client.DeleteAsync($"/holds/{holdId}").ExpectAsync(HttpStatusCode.Conflict);

        Assert.Equal("released", again["hold_status"]!.GetValue<string>());
        Assert.Equal(0L, await App.DataSource.ScalarAsync<long>($"select count(*) from show_seat where show_id = {show.ShowId} and state <> 'available'"));
        Assert.Equal("cancelled", await App.DataSource.ScalarAsync<string>($"select state from job where unique_key = 'hold:{holdId}'"));
        await stranger.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "2B", "2C" } }).ExpectAsync(HttpStatusCode.Created);
    }

    private async Task Sql(string sql)
    {
        await using var command = App.DataSource.CreateCommand(sql);
        await command.ExecuteNonQueryAsync();
    }
}

using System.Net;
using System.Net.Http.Json;
using Holdfast.Features.Jobs;
using Holdfast.Features.Lifecycle;
using Holdfast.Infrastructure.Jobs;
using Holdfast.Tests.Infrastructure;

namespace Holdfast.Tests.Features.Reminders;

public sealed class ReminderTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    private TestApp App => fixture.App;

    [Fact]
    public async Task Reminders_fall_48_and_3_elapsed_hours_before_a_show_across_a_daylight_saving_change()
    {
        // The UK moves to BST at 01:00 UTC on 28 March 2027. A 09:00 BST show on the 29th is 08:00 UTC;
        // 48 real hours before is 08:00 UTC (and 08:00 GMT) on the 27th, not 09:00 local.
        var startsAt = new DateTimeOffset(2027, 3, 29, 9, 0, 0, TimeSpan.FromHours(1));
        var (organizer, organizerId) = await App.OrganizerAsync();
        var show = await TestCatalogue.ShowAsync(App.DataSource, startsAt: startsAt, timeZone: "Europe/London", ownerId: organizerId);
        await BookAsync(show.ShowId, "1A");

        Assert.Equal(
            [new DateTime(2027, 3, 27, 8, 0, 0, DateTimeKind.Utc), new DateTime(2027, 3, 29, 5, 0, 0, DateTimeKind.Utc)],
            await ReminderTimesAsync(show.ShowId));

        // Moving the show moves its reminders; cancelling it drops them.
        await organizer.PatchAsJsonAsync($"/shows/{show.ShowId}", new { starts_at = startsAt.AddHours(2) }).ExpectAsync(HttpStatusCode.NoContent);
        Assert.Equal(
            [new DateTime(2027, 3, 27, 10, 0, 0, DateTimeKind.Utc), new DateTime(2027, 3, 29, 7, 0, 0, DateTimeKind.Utc)],
            await ReminderTimesAsync(show.ShowId));
        await organizer.PostAsync($"/shows/{show.ShowId}/cancel", null).ExpectAsync(HttpStatusCode.OK);
        Assert.Empty(await ReminderTimesAsync(show.ShowId));
    }

    [Fact]
    public async Task A_show_has_one_reminder_round_per_offset_and_it_reminds_each_booking_still_confirmed_when_it_falls_due()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource, startsAt: DateTimeOffset.UtcNow.AddDays(5));
        var first = await BookAsync(show.ShowId, "1A");
        var second = await BookAsync(show.ShowId, "1B");
        var (customer, _) = await App.CustomerAsync();
        var hold = await customer.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "1C" } }).ExpectAsync(HttpStatusCode.Created);
        var cancelled = (await customer.PostAsync($"/holds/{hold["hold_id"]}/booking", null).ExpectAsync(HttpStatusCode.Created))["booking_id"]!.GetValue<long>();
        await customer.PostAsJsonAsync($"/bookings/{cancelled}/cancellation", new { }).ExpectAsync(HttpStatusCode.OK);

        // Three confirmations wrote two rounds between them, and no reminder of a booking yet.
        Assert.Equal(2, (await ReminderTimesAsync(show.ShowId)).Length);
        Assert.Equal(0, await App.DataSource.ScalarAsync<long>(
            $"select count(*) from job where kind = '{ReminderArgs.Kind}' and (payload->>'show_id')::bigint = $1", show.ShowId));

        await App.DataSource.ScalarAsync<int?>(
            $"update job set run_at = now() where kind = '{ShowReminderArgs.Kind}' and unique_key = $1", new ShowReminderArgs(show.ShowId, 3).UniqueKey()!);
        foreach (var booking in new[] { first, second })
        {
            await Eventually.EqualAsync("completed", () => App.DataSource.ScalarAsync<string>(
                $"select coalesce((select state from job where kind = 'email.send' and unique_key = 'reminder:{booking}:3'), 'none')"), TimeSpan.FromSeconds(20));
        }

        Assert.Equal(["completed", "completed"], await App.DataSource.ScalarAsync<string[]>(
            $"select array_agg(state order by (payload->>'booking_id')::bigint) from job where kind = '{ReminderArgs.Kind}' and (payload->>'show_id')::bigint = $1", show.ShowId));
        Assert.Equal(0, await App.DataSource.ScalarAsync<long>(
            $"select count(*) from job where kind = 'email.send' and unique_key = 'reminder:{cancelled}:3'"));
        // The 48-hour round is still to come.
        Assert.Equal("available", await App.DataSource.ScalarAsync<string>(
            $"select state from job where kind = '{ShowReminderArgs.Kind}' and unique_key = $1", new ShowReminderArgs(show.ShowId, 48).UniqueKey()!));
    }

    [Fact]
    public async Task A_reminder_that_falls_due_sends_its_email()
    {
        // Three hours and a minute away: the 48-hour reminder has passed and is skipped; the 3-hour
        // one is scheduled, then brought forward to now (a margin of seconds made this test fail on
        // a loaded machine, whose booking took longer than the margin).
        var show = await TestCatalogue.ShowAsync(App.DataSource, startsAt: DateTimeOffset.UtcNow.AddHours(3).AddMinutes(1));
        var bookingId = await BookAsync(show.ShowId, "2B");
        Assert.Single(await ReminderTimesAsync(show.ShowId));
        await using (var due = App.DataSource.CreateCommand($"update job set run_at = now() where kind = '{ShowReminderArgs.Kind}' and (payload->>'show_id')::bigint = {show.ShowId}"))
        {
            Assert.Equal(1, await due.ExecuteNonQueryAsync());
        }

        await Eventually.EqualAsync("completed", () => App.DataSource.ScalarAsync<string>(
            $"select coalesce((select state from job where kind = 'email.send' and unique_key = 'reminder:{bookingId}:3'), 'none')"), TimeSpan.FromSeconds(20));
    }

    [Fact]
    public async Task The_lifecycle_job_closes_sales_then_departs_then_completes_shows()
    {
        var now = DateTimeOffset.UtcNow;
        async Task<long> Show(TimeSpan startsIn, TimeSpan closesBefore)
        {
            var show = await TestCatalogue.ShowAsync(App.DataSource, startsAt: now + startsIn);
            await using var command = App.DataSource.CreateCommand(
                $"update show set sales_closes_at = starts_at - interval '{(int)closesBefore.TotalMinutes} minutes' where show_id = {show.ShowId}");
            await command.ExecuteNonQueryAsync();
            return show.ShowId;
        }

        var onSale = await Show(TimeSpan.FromHours(5), TimeSpan.FromMinutes(30));
        var closed = await Show(TimeSpan.FromMinutes(20), TimeSpan.FromMinutes(30));
        var departed = await Show(TimeSpan.FromMinutes(-60), TimeSpan.Zero); // started an hour ago, ends in an hour
        var completed = await Show(TimeSpan.FromHours(-3), TimeSpan.Zero);

        await new ShowLifecycle(App.DataSource, TimeProvider.System).HandleAsync(new JobContext(0, ShowLifecycleArgs.Kind, default, 1, 1), CancellationToken.None);

        Assert.Equal("on_sale,closed,departed,completed", await App.DataSource.ScalarAsync<string>(
            $"select string_agg(status, ',' order by array_position(array[{onSale},{closed},{departed},{completed}]::bigint[], show_id)) from show where show_id in ({onSale},{closed},{departed},{completed})"));
        var (customer, _) = await App.CustomerAsync();
        await customer.PostAsJsonAsync($"/shows/{closed}/holds", new { seats = new[] { "1A" } }).ExpectAsync(HttpStatusCode.Conflict);
    }

    private async Task<long> BookAsync(long showId, string seat)
    {
        var (customer, _) = await App.CustomerAsync();
        var hold = await customer.PostAsJsonAsync($"/shows/{showId}/holds", new { seats = new[] { seat } }).ExpectAsync(HttpStatusCode.Created);
        return (await customer.PostAsync($"/holds/{hold["hold_id"]}/booking", null).ExpectAsync(HttpStatusCode.Created))["booking_id"]!.GetValue<long>();
    }

    // When the show's reminder rounds go out (each one's run_at), earliest first.
    private async Task<DateTime[]> ReminderTimesAsync(long showId)
    {
        await using var command = App.DataSource.CreateCommand(
            $"select run_at from job where kind = '{ShowReminderArgs.Kind}' and (payload->>'show_id')::bigint = {showId} and state in ('available', 'retryable', 'running', 'completed') order by run_at");
        var times = new List<DateTime>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            times.Add(reader.GetDateTime(0));
        }

        return [.. times];
    }
}

using System.Net;
using Holdfast.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Holdfast.Tests.Features.Boarding;

public sealed class CheckInRaceTests(TwoNodesFixture nodes) : IClassFixture<TwoNodesFixture>
{
    [Fact]
    public async Task Twenty_concurrent_scans_of_one_code_on_two_nodes_admit_it_once()
    {
        var (_, organizerId) = await nodes.First.OrganizerAsync();
        var (first, firstId) = await nodes.First.CustomerAsync();
        var (second, secondId) = await nodes.Second.CustomerAsync();
        await nodes.First.DataSource.ScalarAsync<int>(
            "with g as (insert into organizer_staff (organizer_user_id, staff_user_id, added_at) values ($1, $2, now()), ($1, $3, now()) returning 1) select count(*)::int from g",
            organizerId, firstId, secondId);
        var show = await TestCatalogue.ShowAsync(nodes.First.DataSource, rows: 1, seatsPerRow: 4, premiumRows: 0, startsAt: DateTimeOffset.UtcNow.AddMinutes(30), ownerId: organizerId);
        var (customer, _) = await nodes.First.CustomerAsync();
        var booking = await Boarding.BookAsync(customer, show.ShowId, "1A", "1B", "1C", "1D");
        var codes = (await Boarding.TicketsAsync(customer, booking["booking_id"]!.GetValue<long>())).Select(t => t!["code"]!.GetValue<string>()).ToArray();

        foreach (var code in codes) // four rounds, a fresh ticket each
        {
            var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var scans = Enumerable.Range(0, 20).Select(async i =>
            {
                await gate.Task;
                using var response = await Boarding.ScanAsync(i % 2 == 0 ? first : second, show.ShowId, code, device: $"gate {i}");
                return response.StatusCode;
            }).ToArray();
            gate.SetResult();
            var statuses = await Task.WhenAll(scans);

            Assert.Equal(1, statuses.Count(s => s == HttpStatusCode.OK));
            Assert.Equal(19, statuses.Count(s => s == HttpStatusCode.Conflict));
            Assert.Equal(1, await nodes.First.DataSource.ScalarAsync<int>("select count(*)::int from ticket where code = $1 and checked_in_at is not null", code));
        }

        // One door-count event per admission, never one for a refused scan.
        var counts = await nodes.First.DataSource.ScalarAsync<int[]>(
            "select array_agg(admitted order by seq) from seat_event where show_id = $1 and kind = 'checked_in'", show.ShowId);
        Assert.Equal([1, 2, 3, 4], counts);
    }

    [Fact]
    public async Task Gates_admitting_different_tickets_at_once_count_each_admission_once_in_order()
    {
        var (organizer, organizerId) = await nodes.First.OrganizerAsync();
        var show = await TestCatalogue.ShowAsync(nodes.First.DataSource, rows: 2, seatsPerRow: 5, premiumRows: 0, startsAt: DateTimeOffset.UtcNow.AddMinutes(30), ownerId: organizerId);
        var (customer, _) = await nodes.First.CustomerAsync();
        var booking = await Boarding.BookAsync(customer, show.ShowId, "1A", "1B", "1C", "1D", "1E", "2A", "2B", "2C", "2D", "2E");
        var codes = (await Boarding.TicketsAsync(customer, booking["booking_id"]!.GetValue<long>())).Select(t => t!["code"]!.GetValue<string>()).ToArray();
        var email = await nodes.First.DataSource.ScalarAsync<string>("select email from app_user where app_user_id = $1", organizerId);
        using var onSecond = nodes.Second.CreateClient();
        onSecond.DefaultRequestHeaders.Authorization = new("Bearer", nodes.Second.Services.GetRequiredService<Holdfast.Infrastructure.Auth.TokenIssuer>()
            .Issue(organizerId, email, Holdfast.Infrastructure.Auth.Roles.Organizer, DateTimeOffset.UtcNow).AccessToken);

        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var scans = codes.Select(async (code, i) =>
        {
            await gate.Task;
            using var response = await Boarding.ScanAsync(i % 2 == 0 ? organizer : onSecond, show.ShowId, code, device: $"gate {i % 2}");
            return response.StatusCode;
        }).ToArray();
        gate.SetResult();
        Assert.All(await Task.WhenAll(scans), s => Assert.Equal(HttpStatusCode.OK, s));

        // Counted after the feed's row lock: 1…10 in event order, no count repeated or skipped, each of 10 expected.
        var counts = await nodes.First.DataSource.ScalarAsync<int[]>(
            "select array_agg(admitted order by seq) from seat_event where show_id = $1 and kind = 'checked_in'", show.ShowId);
        Assert.Equal(Enumerable.Range(1, 10).ToArray(), counts);
        Assert.Equal(10, await nodes.First.DataSource.ScalarAsync<int>(
            "select min(expected) from seat_event where show_id = $1 and kind = 'checked_in'", show.ShowId));
    }
}

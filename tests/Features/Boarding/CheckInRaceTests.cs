using System.Net;
using Holdfast.Tests.Infrastructure;

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
    }
}

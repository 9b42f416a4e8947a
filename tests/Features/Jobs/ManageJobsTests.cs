using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Holdfast.Tests.Infrastructure;

namespace Holdfast.Tests.Features.Jobs;

public sealed class ManageJobsTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    private TestApp App => fixture.App;

    [Fact]
    public async Task Admins_see_counts_and_jobs_and_retry_cancel_or_run_them_now()
    {
        var admin = (await App.AdminAsync()).Client;
        // A discarded expiry of a hold that no longer exists: retrying it runs the real handler, which finds nothing to do.
        var discarded = await App.DataSource.ScalarAsync<long>($"insert into job (kind, queue, run_at, state, attempt, max_attempts, finalized_at, errors) values ('hold.expire', 'holds', now(), 'discarded', 3, 3, now(), '[{{\"error\":\"boom\"}}]') returning job_id");
        var waiting = await App.DataSource.ScalarAsync<long>("insert into job (kind, queue, run_at, payload) values ('hold.expire', 'holds', now() + interval '1 day', '{\"hold_id\": -1}') returning job_id");
        var another = await App.DataSource.ScalarAsync<long>("insert into job (kind, queue, run_at, payload) values ('hold.expire', 'holds', now() + interval '1 day', '{\"hold_id\": -2}') returning job_id");
        await App.DataSource.ScalarAsync<long>($"update job set payload = '{{\"hold_id\": -3}}' where job_id = {discarded} returning job_id");

        var stats = (await admin.GetFromJsonAsync<JsonArray>("/admin/jobs/stats"))!;
        Assert.Contains(stats, c => c!["kind"]!.GetValue<string>() == "hold.expire" && c["state"]!.GetValue<string>() == "discarded" && c["jobs"]!.GetValue<long>() >= 1);
        var listed = (await admin.GetFromJsonAsync<JsonArray>("/admin/jobs?state=discarded&kind=hold.expire"))!;
        Assert.Contains(listed, j => j!["job_id"]!.GetValue<long>() == discarded);
        var one = await admin.GetAsync($"/admin/jobs/{discarded}").ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("boom", one["errors"]![0]!["error"]!.GetValue<string>());

        var retried = await admin.PostAsync($"/admin/jobs/{discarded}/retry", null).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(4, retried["max_attempts"]!.GetValue<int>());
        await Eventually.EqualAsync("completed", async () => (await admin.GetAsync($"/admin/jobs/{discarded}").ExpectAsync(HttpStatusCode.OK))["state"]!.GetValue<string>());

        await admin.PostAsync($"/admin/jobs/{waiting}/cancel", null).ExpectAsync(HttpStatusCode.OK);
        await admin.PostAsync($"/admin/jobs/{waiting}/cancel", null).ExpectAsync(HttpStatusCode.Conflict);
        await admin.PostAsync($"/admin/jobs/{waiting}/run-now", null).ExpectAsync(HttpStatusCode.Conflict);

        await admin.PostAsync($"/admin/jobs/{another}/run-now", null).ExpectAsync(HttpStatusCode.OK);
        await Eventually.EqualAsync("completed", async () => (await admin.GetAsync($"/admin/jobs/{another}").ExpectAsync(HttpStatusCode.OK))["state"]!.GetValue<string>());
        await admin.GetAsync("/admin/jobs/987654321").ExpectAsync(HttpStatusCode.NotFound);
        await admin.GetAsync("/admin/jobs?state=sleeping").ExpectAsync(HttpStatusCode.BadRequest);
    }
}

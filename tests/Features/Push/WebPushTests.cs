using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Holdfast.Features.Push;
using Holdfast.Tests.Infrastructure;
using Microsoft.AspNetCore.WebUtilities;

namespace Holdfast.Tests.Features.Push;

public sealed class WebPushTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    private TestApp App => fixture.App;

    [Fact]
    public async Task A_reminder_reaches_the_browser_through_its_push_service_and_a_gone_subscription_is_dropped()
    {
        await using var pushService = new PushService();
        await pushService.InitializeAsync();
        var origin = pushService.Origin;
        var (customer, userId) = await App.CustomerAsync();
        using var browser = ECDiffieHellman.Create(ECCurve.NamedCurves.nistP256);
        var auth = RandomNumberGenerator.GetBytes(16);
        var keys = new { p256dh = WebEncoders.Base64UrlEncode(PushDecryption.Export(browser)), auth = WebEncoders.Base64UrlEncode(auth) };
        await customer.PostAsJsonAsync("/push/subscriptions", new { endpoint = $"{origin}/push/browser-1", keys }).ExpectAsync(HttpStatusCode.Created);
        await customer.PostAsJsonAsync("/push/subscriptions", new { endpoint = $"{origin}/gone/old-browser", keys }).ExpectAsync(HttpStatusCode.Created);

        var show = await TestCatalogue.ShowAsync(App.DataSource, startsAt: DateTimeOffset.UtcNow.AddHours(3).AddSeconds(2));
        var hold = await customer.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "3C" } }).ExpectAsync(HttpStatusCode.Created);
        await customer.PostAsync($"/holds/{hold["hold_id"]}/booking", null).ExpectAsync(HttpStatusCode.Created);

        var push = await pushService.WaitForAsync("/push/");
        var claims = PushDecryption.VerifyVapid(push.Authorization);
        Assert.NotNull(claims);
        Assert.Equal(origin, claims!["aud"]!.GetValue<string>());
        Assert.Equal(("86400", "normal", "aes128gcm"), (push.Ttl, push.Urgency, push.ContentEncoding));
        var message = JsonNode.Parse(PushDecryption.Decrypt(push.Body, browser, auth))!;
        Assert.StartsWith("Reminder: Test film", message["title"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Contains("seats 3C", message["body"]!.GetValue<string>(), StringComparison.Ordinal);

        await Eventually.EqualAsync(1L, () => App.DataSource.ScalarAsync<long>($"select count(*) from push_subscription where app_user_id = {userId}"));
    }

    [Fact]
    public async Task A_push_job_whose_message_is_too_long_for_one_record_is_discarded_unsent()
    {
        await using var pushService = new PushService();
        await pushService.InitializeAsync();
        var (customer, userId) = await App.CustomerAsync();
        using var browser = ECDiffieHellman.Create(ECCurve.NamedCurves.nistP256);
        var keys = new { p256dh = WebEncoders.Base64UrlEncode(PushDecryption.Export(browser)), auth = WebEncoders.Base64UrlEncode(RandomNumberGenerator.GetBytes(16)) };
        await customer.PostAsJsonAsync("/push/subscriptions", new { endpoint = $"{pushService.Origin}/push/long", keys }).ExpectAsync(HttpStatusCode.Created);

        await using (var enqueue = App.DataSource.CreateCommand(SendPush.EnqueueForUserSql))
        {
            enqueue.Parameters.AddWithValue("user_id", userId);
            enqueue.Parameters.AddWithValue("title", "Notice");
            enqueue.Parameters.AddWithValue("body", new string('x', 4000));
            enqueue.Parameters.AddWithValue("url", "/bookings");
            enqueue.Parameters.AddWithValue("now", DateTimeOffset.UtcNow);
            Assert.Equal(1, await enqueue.ExecuteNonQueryAsync());
        }

        var job = $"from job where kind = 'push.send' and (payload ->> 'push_subscription_id')::bigint in (select push_subscription_id from push_subscription where app_user_id = {userId})";
        await Eventually.EqualAsync("discarded", () => App.DataSource.ScalarAsync<string>($"select state {job}"), TimeSpan.FromSeconds(15));
        var error = await App.DataSource.ScalarAsync<string>($"select errors -> -1 ->> 'error' {job}");
        Assert.Contains("at most 3993", error, StringComparison.Ordinal);
        Assert.Empty(pushService.Received);
    }

    [Fact]
    public async Task An_organizer_notice_reaches_the_booked_browser_as_a_high_urgency_push_with_the_payload_keys_of_before()
    {
        await using var pushService = new PushService();
        await pushService.InitializeAsync();
        var (organizer, organizerId) = await App.OrganizerAsync();
        var show = await TestCatalogue.ShowAsync(App.DataSource, ownerId: organizerId);
        var (customer, userId) = await App.CustomerAsync();
        using var browser = ECDiffieHellman.Create(ECCurve.NamedCurves.nistP256);
        var auth = RandomNumberGenerator.GetBytes(16);
        var keys = new { p256dh = WebEncoders.Base64UrlEncode(PushDecryption.Export(browser)), auth = WebEncoders.Base64UrlEncode(auth) };
        await customer.PostAsJsonAsync("/push/subscriptions", new { endpoint = $"{pushService.Origin}/push/notice", keys }).ExpectAsync(HttpStatusCode.Created);
        var hold = await customer.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "1A" } }).ExpectAsync(HttpStatusCode.Created);
        var booking = await customer.PostAsync($"/holds/{hold["hold_id"]}/booking", null).ExpectAsync(HttpStatusCode.Created);

        var queued = await organizer.PostAsJsonAsync($"/shows/{show.ShowId}/notices", new { subject = "Gate change", message = "Use gate B." })
            .ExpectAsync(HttpStatusCode.Accepted);
        Assert.Equal(1, queued["pushes"]!.GetValue<int>());

        var push = await pushService.WaitForAsync("/push/notice");
        Assert.Equal(("86400", "high"), (push.Ttl, push.Urgency));
        var message = JsonNode.Parse(PushDecryption.Decrypt(push.Body, browser, auth))!;
        Assert.StartsWith("Gate change: ", message["title"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal("Use gate B.", message["body"]!.GetValue<string>());
        Assert.Equal($"/bookings/{booking["booking_id"]}", message["url"]!.GetValue<string>());
        var payloadKeys = await App.DataSource.ScalarAsync<string>(
            "select string_agg(distinct k, ',') from job, jsonb_object_keys(payload) k " +
            $"where kind = 'push.send' and (payload ->> 'push_subscription_id')::bigint in (select push_subscription_id from push_subscription where app_user_id = {userId})");
        Assert.Equal(["body", "push_subscription_id", "title", "ttl_seconds", "urgency", "url"], payloadKeys.Split(',').Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Subscriptions_are_validated_and_the_public_key_is_published()
    {
        using var anonymous = App.CreateClient();
        var key = await anonymous.GetAsync("/push/vapid-public-key").ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(65, WebEncoders.Base64UrlDecode(key["public_key"]!.GetValue<string>()).Length);

        var (customer, _) = await App.CustomerAsync();
        var problem = await customer.PostAsJsonAsync("/push/subscriptions", new { endpoint = "https://push.example/x", keys = new { p256dh = "AAAA", auth = "short" } })
            .ExpectAsync(HttpStatusCode.BadRequest);
        Assert.True(problem["errors"]!.AsObject().ContainsKey("keys.p256dh"));
        Assert.True(problem["errors"]!.AsObject().ContainsKey("keys.auth"));
        await customer.DeleteAsync("/push/subscriptions?endpoint=https%3A%2F%2Fpush.example%2Fx").ExpectAsync(HttpStatusCode.NoContent);
    }
}

using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Holdfast.Infrastructure.Sms;
using Holdfast.Tests.Infrastructure;

namespace Holdfast.Tests.Features.Accounts;

/// <summary>The app sending SMS through a fake Twilio on a loopback port.</summary>
public sealed class SmsFixture : AppFixture
{
    public const string WebhookUrl = "https://api.holdfast.test/sms/twilio/inbound";

    private FakeTwilio? twilio;

    public FakeTwilio Twilio => twilio ?? throw new InvalidOperationException("Fixture not started.");

    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        ["Sms:Mode"] = "twilio",
        ["Sms:TwilioBaseUrl"] = Twilio.BaseUrl.ToString(),
        ["Sms:TwilioAccountSid"] = FakeTwilio.AccountSid,
        ["Sms:TwilioAuthToken"] = FakeTwilio.AuthToken,
        ["Sms:TwilioFrom"] = FakeTwilio.From,
        ["Sms:TwilioWebhookUrl"] = WebhookUrl,
    };

    public override async ValueTask InitializeAsync()
    {
        twilio = await FakeTwilio.StartAsync();
        await base.InitializeAsync();
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        if (twilio is not null)
        {
            await twilio.DisposeAsync();
        }
    }
}

public sealed partial class PhoneTests(SmsFixture fixture) : IClassFixture<SmsFixture>
{
    private TestApp App => fixture.App;
    private FakeTwilio Twilio => fixture.Twilio;

    private static string NewNumber() => "+4477009" + Random.Shared.Next(10000, 99999).ToString(System.Globalization.CultureInfo.InvariantCulture);

    private async Task<string> CodeSentToAsync(string number)
    {
        var sent = await Twilio.WaitForAsync(number, "Holdfast code");
        Assert.Equal(1, SmsText.Measure(sent.Body).Segments);
        return SixDigits().Match(sent.Body).Value;
    }

    /// <summary>A customer with a verified number and the given kinds on.</summary>
    private async Task<(HttpClient Client, long UserId, string Number)> SubscriberAsync(bool confirmation = true, bool reminder = true, bool showChanges = true)
    {
        var (client, userId) = await App.CustomerAsync();
        var number = NewNumber();
        await client.PutAsJsonAsync("/me/phone", new { phone_number = number }).ExpectAsync(HttpStatusCode.Accepted);
        await client.PostAsJsonAsync("/me/phone/verify", new { code = await CodeSentToAsync(number) }).ExpectAsync(HttpStatusCode.OK);
        await client.PutAsJsonAsync("/me/phone/preferences", new { confirmation, reminder, show_changes = showChanges }).ExpectAsync(HttpStatusCode.OK);
        return (client, userId, number);
    }

    private static async Task<long> BookAsync(HttpClient client, long showId, params string[] seats)
    {
        var hold = await client.PostAsJsonAsync($"/shows/{showId}/holds", new { seats }).ExpectAsync(HttpStatusCode.Created);
        var booking = await client.PostAsync($"/holds/{hold["hold_id"]}/booking", null).ExpectAsync(HttpStatusCode.Created);
        return booking["booking_id"]!.GetValue<long>();
    }

    [Fact]
    public async Task A_number_is_verified_with_the_code_texted_to_it()
    {
        var (client, _) = await App.CustomerAsync();
        var number = NewNumber();
        var state = await client.PutAsJsonAsync("/me/phone", new { phone_number = number }).ExpectAsync(HttpStatusCode.Accepted);
        Assert.Equal((number, false), (state["phone_number"]!.GetValue<string>(), state["verified"]!.GetValue<bool>()));
        Assert.NotNull(state["code_expires_at"]);
        var code = await CodeSentToAsync(number);

        // The code is in no row: not the verification, not the job that sent it.
        Assert.Equal(0L, await App.DataSource.ScalarAsync<long>("select count(*) from job where kind = 'sms.send' and payload::text like '%' || $1 || '%'", code));

        var wrong = code == "000000" ? "111111" : "000000";
        var refused = await client.PostAsJsonAsync("/me/phone/verify", new { code = wrong }).ExpectAsync(HttpStatusCode.BadRequest);
        Assert.Contains("4 tries left", refused["errors"]!["code"]![0]!.GetValue<string>(), StringComparison.Ordinal);
        await client.PutAsJsonAsync("/me/phone/preferences", new { confirmation = true }).ExpectAsync(HttpStatusCode.Conflict);

        var verified = await client.PostAsJsonAsync("/me/phone/verify", new { code }).ExpectAsync(HttpStatusCode.OK);
        Assert.True(verified["verified"]!.GetValue<bool>());
        Assert.False(verified["confirmation"]!.GetValue<bool>()); // nothing is on until chosen
        await client.PostAsJsonAsync("/me/phone/verify", new { code }).ExpectAsync(HttpStatusCode.BadRequest); // used

        var chosen = await client.PutAsJsonAsync("/me/phone/preferences", new { reminder = true }).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal((false, true, false), (chosen["confirmation"]!.GetValue<bool>(), chosen["reminder"]!.GetValue<bool>(), chosen["show_changes"]!.GetValue<bool>()));
        Assert.True((await client.GetFromJsonAsync<JsonObject>("/me/phone"))!["reminder"]!.GetValue<bool>());

        await client.DeleteAsync("/me/phone").ExpectAsync(HttpStatusCode.NoContent);
        await client.GetAsync("/me/phone").ExpectAsync(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task A_code_allows_five_tries_and_expires()
    {
        var (client, userId) = await App.CustomerAsync();
        var number = NewNumber();
        await client.PutAsJsonAsync("/me/phone", new { phone_number = number }).ExpectAsync(HttpStatusCode.Accepted);
        var code = await CodeSentToAsync(number);
        var wrong = code == "000000" ? "111111" : "000000";
        for (var i = 0; i < 5; i++)
        {
            await client.PostAsJsonAsync("/me/phone/verify", new { code = wrong }).ExpectAsync(HttpStatusCode.BadRequest);
        }

        await client.PostAsJsonAsync("/me/phone/verify", new { code }).ExpectAsync(HttpStatusCode.BadRequest);

        // A new code (after the resend pause), then expired.
        await App.DataSource.ScalarAsync<int?>("update phone_verification set created_at = created_at - interval '1 minute' where app_user_id = $1", userId);
        await client.PutAsJsonAsync("/me/phone", new { phone_number = number }).ExpectAsync(HttpStatusCode.Accepted);
        await Eventually.EqualAsync(2, () => Task.FromResult(Twilio.Messages.Count(m => m.To == number)));
        await client.PutAsJsonAsync("/me/phone", new { phone_number = number }).ExpectAsync(HttpStatusCode.TooManyRequests);
        var second = SixDigits().Match(Twilio.Messages.Last(m => m.To == number).Body).Value;
        await App.DataSource.ScalarAsync<int?>("update phone_verification set expires_at = now() - interval '1 second' where app_user_id = $1", userId);
        await client.PostAsJsonAsync("/me/phone/verify", new { code = second }).ExpectAsync(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task Only_an_E164_number_is_taken()
    {
        var (client, _) = await App.CustomerAsync();
        foreach (var bad in new[] { "07700900123", "+0447700900123", "+44 7700 900123", "+4477009001231234", "" })
        {
            var problem = await client.PutAsJsonAsync("/me/phone", new { phone_number = bad }).ExpectAsync(HttpStatusCode.BadRequest);
            Assert.NotNull(problem["errors"]!["phone_number"]);
        }
    }

    [Fact]
    public async Task A_confirmed_booking_is_texted_only_to_who_opted_in()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource);
        var (wants, _, wantsNumber) = await SubscriberAsync(confirmation: true);
        var (declines, _, declinesNumber) = await SubscriberAsync(confirmation: false);

        var booking = await BookAsync(wants, show.ShowId, "2A", "2B");
        var declined = await BookAsync(declines, show.ShowId, "3A");

        var sent = await Twilio.WaitForAsync(wantsNumber, $"booking {booking} confirmed");
        Assert.Contains("2A 2B", sent.Body, StringComparison.Ordinal);
        Assert.Equal(1, SmsText.Measure(sent.Body).Segments);
        Assert.Equal(0L, await App.DataSource.ScalarAsync<long>("select count(*) from job where kind = 'sms.send' and (payload->>'booking_id')::bigint = $1", declined));
        Assert.DoesNotContain(Twilio.Messages, m => m.To == declinesNumber && m.Body.Contains("confirmed", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_moved_or_cancelled_show_and_a_reminder_are_texted()
    {
        var (admin, _) = await App.AdminAsync();
        var show = await TestCatalogue.ShowAsync(App.DataSource, startsAt: DateTimeOffset.UtcNow.AddDays(5));
        var (client, _, number) = await SubscriberAsync();
        var booking = await BookAsync(client, show.ShowId, "4C");
        await Twilio.WaitForAsync(number, $"booking {booking} confirmed");

        // A reminder, due now.
        await App.DataSource.ScalarAsync<int?>("update job set run_at = now() where kind = 'reminder.show' and (payload->>'show_id')::bigint = $1", show.ShowId);
        await Twilio.WaitForAsync(number, "Holdfast reminder");

        await admin.PatchAsJsonAsync($"/shows/{show.ShowId}", new { starts_at = DateTimeOffset.UtcNow.AddDays(6) }).ExpectAsync(HttpStatusCode.NoContent);
        await Twilio.WaitForAsync(number, "NEW TIME");

        await admin.PostAsync($"/shows/{show.ShowId}/cancel", null).ExpectAsync(HttpStatusCode.OK);
        var cancelled = await Twilio.WaitForAsync(number, "CANCELLED");
        Assert.Contains($"Booking {booking} refunded", cancelled.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_signed_STOP_opts_the_number_out_of_everything()
    {
        var (client, _, number) = await SubscriberAsync();
        var form = new Dictionary<string, string> { ["From"] = number, ["To"] = FakeTwilio.From, ["Body"] = " Stop ", ["MessageSid"] = "SM1", ["AccountSid"] = FakeTwilio.AccountSid };
        using var webhook = App.CreateClient();

        using (var unsigned = new HttpRequestMessage(HttpMethod.Post, "/sms/twilio/inbound") { Content = new FormUrlEncodedContent(form) })
        {
            unsigned.Headers.Add("X-Twilio-Signature", TwilioSignature.Compute("not the token", SmsFixture.WebhookUrl, form));
            using var refused = await webhook.SendAsync(unsigned);
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        }

        Assert.True((await client.GetFromJsonAsync<JsonObject>("/me/phone"))!["confirmation"]!.GetValue<bool>());

        using var signed = new HttpRequestMessage(HttpMethod.Post, "/sms/twilio/inbound") { Content = new FormUrlEncodedContent(form) };
        signed.Headers.Add("X-Twilio-Signature", TwilioSignature.Compute(FakeTwilio.AuthToken, SmsFixture.WebhookUrl, form));
        using var accepted = await webhook.SendAsync(signed);
        Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
        Assert.Equal("text/xml", accepted.Content.Headers.ContentType?.MediaType);
        Assert.Contains("<Response>", await accepted.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        var state = (await client.GetFromJsonAsync<JsonObject>("/me/phone"))!;
        Assert.Equal((false, false, false), (state["confirmation"]!.GetValue<bool>(), state["reminder"]!.GetValue<bool>(), state["show_changes"]!.GetValue<bool>()));
        Assert.True(state["verified"]!.GetValue<bool>());
    }

    [GeneratedRegex(@"\b\d{6}\b")]
    private static partial Regex SixDigits();
}

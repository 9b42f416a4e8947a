using Holdfast.Infrastructure.Jobs;
using Holdfast.Infrastructure.Sms;
using Microsoft.Extensions.Options;

namespace Holdfast.Tests.Infrastructure;

/// <summary>A <see cref="FakeTwilio"/> for a test class.</summary>
public sealed class FakeTwilioFixture : IAsyncLifetime
{
    private FakeTwilio? twilio;

    public FakeTwilio Twilio => twilio ?? throw new InvalidOperationException("Fixture not started.");

    public async ValueTask InitializeAsync() => twilio = await FakeTwilio.StartAsync();

    public async ValueTask DisposeAsync()
    {
        if (twilio is not null)
        {
            await twilio.DisposeAsync();
        }
    }
}

/// <summary>The SMS sender alone, against the fake Twilio and the pickup folder; segment counting; webhook signatures.</summary>
public sealed class SmsSenderTests(FakeTwilioFixture fixture) : IClassFixture<FakeTwilioFixture>
{
    private FakeTwilio Twilio => fixture.Twilio;

    private TwilioSmsSender Sender(string? messagingService = null, string token = FakeTwilio.AuthToken) => new(new HttpClient(), Options.Create(new SmsOptions
    {
        Mode = "twilio",
        TwilioBaseUrl = Twilio.BaseUrl.ToString(),
        TwilioAccountSid = FakeTwilio.AccountSid,
        TwilioAuthToken = token,
        TwilioFrom = messagingService is null ? FakeTwilio.From : null,
        TwilioMessagingServiceSid = messagingService,
    }));

    private static string NewNumber() => "+4477009" + Random.Shared.Next(10000, 99999).ToString(System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public async Task A_message_reaches_twilio_with_basic_auth_and_the_form_fields()
    {
        var to = NewNumber();
        var receipt = await Sender().SendAsync(new SmsMessage(to, "Holdfast: booking 12 confirmed. Seats 4A 4B."), TestContext.Current.CancellationToken);

        var sent = await Twilio.WaitForAsync(to, "booking 12 confirmed");
        Assert.Equal((FakeTwilio.From, (string?)null), (sent.From, sent.MessagingServiceSid));
        Assert.StartsWith("SM", receipt.Id, StringComparison.Ordinal);
        Assert.Equal((1, "GSM-7"), (receipt.Segments, receipt.Encoding));

        var viaService = NewNumber();
        await Sender(messagingService: "MG0000000000000000000000000000000a").SendAsync(new SmsMessage(viaService, "Hello"), TestContext.Current.CancellationToken);
        var serviceSent = await Twilio.WaitForAsync(viaService, "Hello");
        Assert.Equal(((string?)null, "MG0000000000000000000000000000000a"), (serviceSent.From, serviceSent.MessagingServiceSid));
    }

    [Fact]
    public async Task A_refusal_for_good_is_permanent_and_an_outage_or_wrong_token_is_retried()
    {
        Twilio.FailNext = (400, 21211);
        var permanent = await Assert.ThrowsAsync<PermanentJobException>(() => Sender().SendAsync(new SmsMessage(NewNumber(), "x"), TestContext.Current.CancellationToken));
        Assert.Contains("21211", permanent.Message, StringComparison.Ordinal);

        Twilio.FailNext = (503, 0);
        await Assert.ThrowsAsync<HttpRequestException>(() => Sender().SendAsync(new SmsMessage(NewNumber(), "x"), TestContext.Current.CancellationToken));

        var refused = Twilio.Refused.Count;
        var unauthorized = await Assert.ThrowsAsync<HttpRequestException>(() => Sender(token: "wrong").SendAsync(new SmsMessage(NewNumber(), "x"), TestContext.Current.CancellationToken));
        Assert.DoesNotContain("wrong", unauthorized.Message, StringComparison.Ordinal); // the token is never in the message
        Assert.Equal(refused + 1, Twilio.Refused.Count);
    }

    [Fact]
    public async Task Without_twilio_a_message_is_a_file_in_the_pickup_folder()
    {
        var folder = Path.Combine(Path.GetTempPath(), $"holdfast-sms-{Guid.NewGuid():N}");
        var sender = new TwilioSmsSender(new HttpClient(), Options.Create(new SmsOptions { PickupDirectory = folder }));
        var receipt = await sender.SendAsync(new SmsMessage("+447700900123", "Привет"), TestContext.Current.CancellationToken);

        var text = await File.ReadAllTextAsync(Path.Combine(folder, receipt.Id + ".txt"), TestContext.Current.CancellationToken);
        Assert.Contains("To: +447700900123", text, StringComparison.Ordinal);
        Assert.Contains("Segments: 1 (UCS-2)", text, StringComparison.Ordinal);
        Assert.Contains("Привет", text, StringComparison.Ordinal);
        Directory.Delete(folder, recursive: true);
    }

    [Theory]
    [InlineData(160, "GSM-7", 1)]
    [InlineData(161, "GSM-7", 2)]
    [InlineData(306, "GSM-7", 2)]
    [InlineData(307, "GSM-7", 3)]
    public void GSM_7_texts_take_160_septets_in_one_segment_and_153_in_each_of_several(int length, string encoding, int segments) =>
        Assert.Equal(new SmsText.Measurement(encoding, length, segments), SmsText.Measure(new string('a', length)));

    [Fact]
    public void Extension_characters_count_twice_and_anything_outside_GSM_7_makes_UCS_2()
    {
        Assert.Equal(new SmsText.Measurement("GSM-7", 160, 1), SmsText.Measure(new string('a', 158) + "€"));
        Assert.Equal(new SmsText.Measurement("GSM-7", 161, 2), SmsText.Measure(new string('a', 159) + "["));
        Assert.Equal(new SmsText.Measurement("UCS-2", 70, 1), SmsText.Measure(new string('a', 69) + "…"));
        Assert.Equal(new SmsText.Measurement("UCS-2", 71, 2), SmsText.Measure(new string('a', 70) + "’"));
        Assert.Equal("UCS-2", SmsText.Measure("Café à 21:55, £12 — no").Encoding); // the em dash is not GSM-7
        Assert.Equal("GSM-7", SmsText.Measure("Café à 21:55, £12 @ Ä§").Encoding);
    }

    [Fact]
    public void A_long_text_is_cut_to_one_segment()
    {
        var cut = SmsText.FitOneSegment("Holdfast: " + new string('x', 300));
        Assert.Equal(new SmsText.Measurement("GSM-7", 160, 1), SmsText.Measure(cut));
        Assert.EndsWith("...", cut, StringComparison.Ordinal);
        Assert.Equal("short", SmsText.FitOneSegment("short"));
        Assert.Equal(1, SmsText.Measure(SmsText.FitOneSegment("Κινηματογράφος " + new string('λ', 100))).Segments);
    }

    [Fact]
    public void Webhook_signatures_agree_with_twilios_own_validator()
    {
        var url = "https://api.holdfast.example/sms/twilio/inbound?x=1";
        var form = new Dictionary<string, string> { ["From"] = "+447700900123", ["Body"] = "STOP", ["To"] = FakeTwilio.From, ["MessageSid"] = "SM123", ["AccountSid"] = FakeTwilio.AccountSid };
        var signature = TwilioSignature.Compute(FakeTwilio.AuthToken, url, form);

        Assert.True(new Twilio.Security.RequestValidator(FakeTwilio.AuthToken).Validate(url, form, signature));
        Assert.True(TwilioSignature.IsValid(FakeTwilio.AuthToken, url, form, signature));
        Assert.False(TwilioSignature.IsValid("another token", url, form, signature));
        Assert.False(TwilioSignature.IsValid(FakeTwilio.AuthToken, url, new Dictionary<string, string>(form) { ["Body"] = "START" }, signature));
        Assert.False(TwilioSignature.IsValid(FakeTwilio.AuthToken, url + "&y=2", form, signature));
    }
}

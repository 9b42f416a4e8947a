using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Holdfast.Infrastructure.Payments;
using Holdfast.Tests.Infrastructure;

namespace Holdfast.Tests.Features.Payments;

/// <summary>The app configured for Stripe, pointed at a fake Stripe server the test run starts.</summary>
public sealed class StripeFixture : AppFixture
{
    public FakeStripe Stripe { get; } = new();

    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        ["Payments:Provider"] = "stripe",
        ["Payments:Stripe:BaseUrl"] = Stripe.BaseUrl,
        ["Payments:Stripe:SecretKey"] = FakeStripe.SecretKey,
        // Two secrets: a rotation in progress.
        ["Payments:Stripe:WebhookSecrets:0"] = "whsec_old",
        ["Payments:Stripe:WebhookSecrets:1"] = "whsec_new",
    };

    public override async ValueTask InitializeAsync()
    {
        await Stripe.StartAsync();
        await base.InitializeAsync();
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        await Stripe.DisposeAsync();
    }
}

public sealed class StripeTests(StripeFixture fixture) : IClassFixture<StripeFixture>
{
    private TestApp App => fixture.App;
    private FakeStripe Stripe => fixture.Stripe;

    [Fact]
    public async Task Checkout_returns_a_client_secret_and_the_signed_webhook_confirms_the_booking()
    {
        var (customer, holdId, showId) = await HoldAsync();

        var pending = await customer.PostAsync($"/holds/{holdId}/booking", null).ExpectAsync(HttpStatusCode.Created);

        Assert.Equal("pending_payment", pending["status"]!.GetValue<string>());
        var intent = pending["payment"]!["payment_intent_id"]!.GetValue<string>();
        Assert.EndsWith("_secret_x", pending["payment"]!["client_secret"]!.GetValue<string>(), StringComparison.Ordinal);
        var create = Stripe.Requests.Last(r => r.Path == "/v1/payment_intents");
        Assert.Equal(("2000", "gbp", "2024-06-20"), (create.Form["amount"], create.Form["currency"], create.Version));
        Assert.NotNull(create.IdempotencyKey);

        var confirmed = await DeliverAsync(Stripe.Succeed(intent), "whsec_new");
        Assert.Equal("Confirmed", confirmed["outcome"]!.GetValue<string>());
        var booking = await customer.GetAsync($"/bookings/{pending["booking_id"]}").ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(("confirmed", 2000L), (booking["status"]!.GetValue<string>(), booking["paid_minor"]!.GetValue<long>()));
        Assert.Equal("booked", await Scalar<string>($"select state from show_seat where show_id = {showId} and booking_id = {pending["booking_id"]}"));
    }

    [Fact]
    public async Task A_payment_failed_webhook_records_the_decline_and_leaves_the_booking_payable()
    {
        var (customer, holdId, _) = await HoldAsync();
        var pending = await customer.PostAsync($"/holds/{holdId}/booking", null).ExpectAsync(HttpStatusCode.Created);
        var intent = pending["payment"]!["payment_intent_id"]!.GetValue<string>();

        var failed = await DeliverAsync(Stripe.Decline(intent, "Your card was declined."), "whsec_new");

        Assert.Equal("Failed", failed["outcome"]!.GetValue<string>());
        Assert.Equal(("requires_payment_method", "Your card was declined."),
            (await Scalar<string>($"select status from payment_attempt where provider_payment_id = '{intent}'"),
             await Scalar<string>($"select last_error from payment_attempt where provider_payment_id = '{intent}'")));
        var booking = await customer.GetAsync($"/bookings/{pending["booking_id"]}").ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("pending_payment", booking["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task Tampered_stale_unsigned_or_wrongly_signed_webhooks_are_rejected_and_change_nothing()
    {
        var (customer, holdId, _) = await HoldAsync();
        var pending = await customer.PostAsync($"/holds/{holdId}/booking", null).ExpectAsync(HttpStatusCode.Created);
        var body = Stripe.Succeed(pending["payment"]!["payment_intent_id"]!.GetValue<string>());
        var now = DateTimeOffset.UtcNow;

        await PostWebhookAsync(body.Replace("\"amount_received\":2000", "\"amount_received\":1", StringComparison.Ordinal), FakeStripe.Sign(body, "whsec_new", now)).ExpectAsync(HttpStatusCode.BadRequest);
        await PostWebhookAsync(body, FakeStripe.Sign(body, "whsec_new", now.AddMinutes(-6))).ExpectAsync(HttpStatusCode.BadRequest);
        await PostWebhookAsync(body, FakeStripe.Sign(body, "whsec_someone_else", now)).ExpectAsync(HttpStatusCode.BadRequest);
        await PostWebhookAsync(body, null).ExpectAsync(HttpStatusCode.BadRequest);

        Assert.Equal("pending_payment", await Scalar<string>($"select status from booking where booking_id = {pending["booking_id"]}"));
        Assert.Equal(0L, await Scalar<long>($"select count(*) from payment_event where payload::text like '%{pending["payment"]!["payment_intent_id"]}%'"));
        // The old secret still works during the rotation.
        Assert.Equal("Confirmed", (await DeliverAsync(body, "whsec_old"))["outcome"]!.GetValue<string>());
    }

    [Fact]
    public async Task Duplicate_and_concurrent_deliveries_of_one_event_confirm_once()
    {
        var (customer, holdId, showId) = await HoldAsync();
        var pending = await customer.PostAsync($"/holds/{holdId}/booking", null).ExpectAsync(HttpStatusCode.Created);
        var body = Stripe.Succeed(pending["payment"]!["payment_intent_id"]!.GetValue<string>());
        using var barrier = new Barrier(10);

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => Task.Run(async () =>
        {
            barrier.SignalAndWait();
            return (await DeliverAsync(body, "whsec_new"))["outcome"]!.GetValue<string>();
        })));
        var again = (await DeliverAsync(body, "whsec_new"))["outcome"]!.GetValue<string>();

        Assert.Single(outcomes, o => o == "Confirmed");
        Assert.Equal(9, outcomes.Count(o => o == "AlreadyProcessed"));
        Assert.Equal("AlreadyProcessed", again);
        Assert.Equal(2000L, await Scalar<long>($"select paid_minor from booking where booking_id = {pending["booking_id"]}"));
        Assert.Equal(1L, await Scalar<long>($"select count(*) from seat_event where show_id = {showId} and kind = 'booked'"));
    }

    [Fact]
    public async Task A_decline_then_a_retry_uses_a_new_idempotency_key_and_pins_the_API_version()
    {
        var (customer, holdId, _) = await HoldAsync();

        var declined = await customer.PostAsJsonAsync($"/holds/{holdId}/booking", new { payment_method = "pm_card_chargeDeclined" }).ExpectAsync(HttpStatusCode.PaymentRequired);
        Assert.Equal("Your card was declined.", declined["decline_reason"]!.GetValue<string>());
        var bookingId = declined["booking_id"]!.GetValue<long>();
        var paid = await customer.PostAsJsonAsync($"/bookings/{bookingId}/payments", new { payment_method = "pm_card_visa" }).ExpectAsync(HttpStatusCode.Created);

        Assert.Equal("confirmed", paid["status"]!.GetValue<string>());
        var keys = Stripe.Requests.Where(r => r.Path == "/v1/payment_intents" && r.Form.GetValueOrDefault("metadata[booking_id]") == bookingId.ToString(System.Globalization.CultureInfo.InvariantCulture))
            .Select(r => r.IdempotencyKey).ToList();
        Assert.Equal(2, keys.Distinct().Count());
        Assert.All(Stripe.Requests, r => Assert.Equal("2024-06-20", r.Version));
    }

    [Fact]
    public async Task Server_errors_are_retried_with_the_same_idempotency_key()
    {
        var (customer, holdId, _) = await HoldAsync();
        Stripe.FailNext(2);

        var paid = await customer.PostAsJsonAsync($"/holds/{holdId}/booking", new { payment_method = "pm_card_visa" }).ExpectAsync(HttpStatusCode.Created);

        Assert.Equal("confirmed", paid["status"]!.GetValue<string>());
        var attempts = Stripe.Requests.Where(r => r.Form.GetValueOrDefault("metadata[booking_id]") == paid["booking_id"]!.ToString()).ToList();
        Assert.Equal(3, attempts.Count);
        Assert.Single(attempts.Select(a => a.IdempotencyKey).Distinct());
    }

    [Fact]
    public async Task A_Stripe_error_object_becomes_problem_details()
    {
        var (customer, holdId, _) = await HoldAsync();

        var problem = await customer.PostAsJsonAsync($"/holds/{holdId}/booking", new { payment_method = "pm_does_not_exist" }).ExpectAsync(HttpStatusCode.PaymentRequired);

        Assert.Equal("Payment refused.", problem["title"]!.GetValue<string>());
        Assert.Equal("resource_missing", problem["code"]!.GetValue<string>());
        Assert.Contains("No such PaymentMethod", problem["detail"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.NotNull(problem["booking_id"]);
    }

    [Fact]
    public async Task A_refund_goes_to_Stripe_with_its_key_and_its_webhook_completes_it()
    {
        var (customer, holdId, _) = await HoldAsync(currency: "JPY");
        var paid = await customer.PostAsJsonAsync($"/holds/{holdId}/booking", new { payment_method = "pm_card_visa" }).ExpectAsync(HttpStatusCode.Created);
        var bookingId = paid["booking_id"]!.GetValue<long>();
        Assert.Equal(("2000", "jpy"), (Stripe.Requests.Last(r => r.Path == "/v1/payment_intents").Form["amount"], Stripe.Requests.Last(r => r.Path == "/v1/payment_intents").Form["currency"]));

        await customer.PostAsJsonAsync($"/bookings/{bookingId}/cancellation", new { }).ExpectAsync(HttpStatusCode.OK);
        await Eventually.EqualAsync(true, () => Task.FromResult(Stripe.Requests.Any(r => r.Path == "/v1/refunds" && r.Form["amount"] == "2000")));
        var refundCall = Stripe.Requests.First(r => r.Path == "/v1/refunds" && r.Form["amount"] == "2000");
        Assert.StartsWith($"refund-{bookingId}-", refundCall.IdempotencyKey, StringComparison.Ordinal);
        var providerRefund = await EventuallyNotNull($"select provider_refund_id from refund where booking_id = {bookingId}");
        Assert.Equal("pending", await Scalar<string>($"select status from refund where booking_id = {bookingId}"));

        await DeliverAsync(FakeStripe.Event("refund.updated", new JsonObject { ["id"] = providerRefund, ["object"] = "refund", ["status"] = "succeeded" }), "whsec_new");

        Assert.Equal("succeeded", await Scalar<string>($"select status from refund where booking_id = {bookingId}"));
        Assert.Equal("refunded", await Scalar<string>($"select status from booking where booking_id = {bookingId}"));
    }

    private async Task<string> EventuallyNotNull(string sql)
    {
        for (var i = 0; i < 400; i++)
        {
            await using var command = App.DataSource.CreateCommand(sql);
            if (await command.ExecuteScalarAsync() is string value)
            {
                return value;
            }

            await Task.Delay(25);
        }

        throw new TimeoutException(sql);
    }

    private async Task<(HttpClient Customer, long HoldId, long ShowId)> HoldAsync(string currency = "GBP")
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource, currency: currency);
        var (customer, _) = await App.CustomerAsync();
        var hold = await customer.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "3A" } }).ExpectAsync(HttpStatusCode.Created);
        return (customer, hold["hold_id"]!.GetValue<long>(), show.ShowId);
    }

    private Task<HttpResponseMessage> PostWebhookAsync(string body, string? signature)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/payments/stripe/webhook") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        if (signature is not null)
        {
            request.Headers.TryAddWithoutValidation("Stripe-Signature", signature);
        }

        return App.CreateClient().SendAsync(request);
    }

    private Task<JsonObject> DeliverAsync(string body, string secret) =>
        PostWebhookAsync(body, FakeStripe.Sign(body, secret, DateTimeOffset.UtcNow)).ExpectAsync(HttpStatusCode.OK);

    private Task<T> Scalar<T>(string sql) => App.DataSource.ScalarAsync<T>(sql);
}

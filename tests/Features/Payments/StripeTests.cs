using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Holdfast.Infrastructure.Payments;
using Holdfast.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Holdfast.Tests.Features.Payments;

/// <summary>The app configured for Stripe, pointed at a fake Stripe server the test run starts.</summary>
public class StripeFixture : AppFixture
{
    public FakeStripe Stripe { get; } = new();

    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        ["Payments:Provider"] = "stripe",
        ["Payments:Stripe:BaseUrl"] = Stripe.BaseUrl,
        ["Payments:Stripe:SecretKey"] = FakeStripe.SecretKey,
        ["Payments:Stripe:PublishableKey"] = "pk_test_holdfast",
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
        GC.SuppressFinalize(this);
    }
}

public sealed class StripeTests(StripeFixture fixture) : IClassFixture<StripeFixture>
{
    private TestApp App => fixture.App;
    private FakeStripe Stripe => fixture.Stripe;

    [Fact]
    public async Task Pages_get_the_publishable_key_for_the_Payment_Element_and_never_the_secret()
    {
        using var anonymous = App.CreateClient();
        using var response = await anonymous.GetAsync("/payments/config");
        var text = await response.Content.ReadAsStringAsync();
        var config = System.Text.Json.Nodes.JsonNode.Parse(text)!;
        Assert.Equal(("stripe", "pk_test_holdfast", 0), (config["provider"]!.GetValue<string>(), config["publishable_key"]!.GetValue<string>(), config["test_cards"]!.AsArray().Count));
        Assert.DoesNotContain(FakeStripe.SecretKey, text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Checkout_returns_a_client_secret_and_the_signed_webhook_confirms_the_booking()
    {
        var (customer, holdId, showId) = await HoldAsync();

        var pending = await customer.PostAsync($"/holds/{holdId}/booking", null).ExpectAsync(HttpStatusCode.Created);

        Assert.Equal("pending_payment", pending["status"]!.GetValue<string>());
        var intent = pending["payment"]!["payment_intent_id"]!.GetValue<string>();
        Assert.EndsWith("_secret_x", pending["payment"]!["client_secret"]!.GetValue<string>(), StringComparison.Ordinal);
        var create = Stripe.Requests.Last(r => r.Path == "/v1/payment_intents");
        // Stripe.net's fixed version; the README tells operators to set the webhook endpoint to it.
        Assert.Equal(("2000", "gbp", FakeStripe.ApiVersion), (create.Form["amount"], create.Form["currency"], create.Version));
        Assert.NotNull(create.IdempotencyKey);

        var confirmed = await DeliverAsync(Stripe.Succeed(intent), "whsec_new");
        Assert.Equal("Confirmed", confirmed["outcome"]!.GetValue<string>());
        var booking = await customer.GetAsync($"/bookings/{pending["booking_id"]}").ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(("confirmed", 2000L), (booking["status"]!.GetValue<string>(), booking["paid_minor"]!.GetValue<long>()));
        Assert.Equal("booked", await App.DataSource.ScalarAsync<string>($"select state from show_seat where show_id = {showId} and booking_id = {pending["booking_id"]}"));
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
            (await App.DataSource.ScalarAsync<string>($"select status from payment_attempt where provider_payment_id = '{intent}'"),
             await App.DataSource.ScalarAsync<string>($"select last_error from payment_attempt where provider_payment_id = '{intent}'")));
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

        Assert.Equal("pending_payment", await App.DataSource.ScalarAsync<string>($"select status from booking where booking_id = {pending["booking_id"]}"));
        Assert.Equal(0L, await App.DataSource.ScalarAsync<long>($"select count(*) from payment_event where payload::text like '%{pending["payment"]!["payment_intent_id"]}%'"));
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
        Assert.Equal(2000L, await App.DataSource.ScalarAsync<long>($"select paid_minor from booking where booking_id = {pending["booking_id"]}"));
        Assert.Equal(1L, await App.DataSource.ScalarAsync<long>($"select count(*) from seat_event where show_id = {showId} and kind = 'booked'"));
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
        Assert.All(Stripe.Requests, r => Assert.Equal(FakeStripe.ApiVersion, r.Version));
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
    public async Task A_rate_limited_request_is_retried_with_the_same_idempotency_key()
    {
        var (customer, holdId, _) = await HoldAsync();
        Stripe.FailNext(1, status: 429);

        var paid = await customer.PostAsJsonAsync($"/holds/{holdId}/booking", new { payment_method = "pm_card_visa" }).ExpectAsync(HttpStatusCode.Created);

        Assert.Equal("confirmed", paid["status"]!.GetValue<string>());
        var attempts = Stripe.Requests.Where(r => r.Form.GetValueOrDefault("metadata[booking_id]") == paid["booking_id"]!.ToString()).ToList();
        Assert.Equal(2, attempts.Count);
        Assert.Single(attempts.Select(a => a.IdempotencyKey).Distinct());
    }

    [Fact]
    public async Task A_proxy_error_page_instead_of_Stripe_is_retried_and_then_a_502_naming_the_status()
    {
        var (customer, holdId, _) = await HoldAsync();
        Stripe.FailNext(4, status: 502);

        var problem = await customer.PostAsJsonAsync($"/holds/{holdId}/booking", new { payment_method = "pm_card_visa" }).ExpectAsync(HttpStatusCode.BadGateway);

        Assert.Equal("Payment provider unavailable.", problem["title"]!.GetValue<string>());
        Assert.StartsWith("Stripe answered 502. Booking ", problem["detail"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(4, Stripe.Requests.Count(r => r.Form.GetValueOrDefault("metadata[booking_id]") == problem["booking_id"]!.ToString()));
    }

    [Fact]
    public async Task Replaying_a_create_with_its_idempotency_key_returns_the_same_PaymentIntent_and_other_parameters_are_refused()
    {
        var gateway = App.Services.GetRequiredService<IPaymentGateway>();
        var request = new PaymentIntentRequest(1500, "EUR", $"booking-0-{Guid.NewGuid():N}", "replay", 0, "pm_card_visa");

        var first = await gateway.CreatePaymentIntentAsync(request, CancellationToken.None);
        var again = await gateway.CreatePaymentIntentAsync(request, CancellationToken.None);
        var other = await Assert.ThrowsAsync<PaymentProviderException>(() => gateway.CreatePaymentIntentAsync(request with { AmountMinor = 1600 }, CancellationToken.None));

        Assert.Equal("stripe", gateway.Provider);
        Assert.Equal((first.Id, "succeeded", 1500L), (again.Id, again.Status, again.AmountReceived));
        Assert.Equal(("idempotency_error", 400, false), (other.Type, other.StatusCode, other.Transient));
    }

    [Theory]
    [InlineData("2024-06-20")] // an endpoint left on the version the hand-written client pinned
    [InlineData("2025-03-31.basil")] // an older release train
    [InlineData(null)] // no api_version at all
    public async Task A_signed_event_of_another_API_version_is_acknowledged_and_recorded_but_not_acted_on(string? version)
    {
        var (customer, holdId, _) = await HoldAsync();
        var pending = await customer.PostAsync($"/holds/{holdId}/booking", null).ExpectAsync(HttpStatusCode.Created);
        var body = Stripe.Succeed(pending["payment"]!["payment_intent_id"]!.GetValue<string>(), version);

        var ignored = await DeliverAsync(body, "whsec_new");
        var again = await DeliverAsync(body, "whsec_new");

        Assert.Equal(("IgnoredApiVersion", "AlreadyProcessed"), (ignored["outcome"]!.GetValue<string>(), again["outcome"]!.GetValue<string>()));
        Assert.Equal("pending_payment", await App.DataSource.ScalarAsync<string>($"select status from booking where booking_id = {pending["booking_id"]}"));
        Assert.Equal(1L, await App.DataSource.ScalarAsync<long>($"select count(*) from payment_event where provider_event_id = '{EventId(body)}'"));
    }

    [Theory]
    [InlineData("payment_intent.succeeded", """{"object":"payment_intent","status":"succeeded","amount_received":2000}""")] // no id
    [InlineData("payment_intent.succeeded", """{"id":"pi_unknown","object":"payment_intent","amount_received":2000}""")] // no status
    [InlineData("payment_intent.payment_failed", """{"id":"pi_unknown","object":"payment_intent","status":"requires_payment_method","amount_received":"0"}""")] // not a number
    [InlineData("refund.created", """{"object":"refund","amount":100}""")] // no id, no status
    [InlineData("refund.updated", """{"id":"re_unknown","object":"refund"}""")] // no status
    [InlineData("refund.failed", """{"id":"pi_unknown","object":"payment_intent","status":"failed"}""")] // not a refund
    public async Task A_signed_event_whose_object_cannot_be_read_is_acknowledged_and_recorded(string type, string data)
    {
        var body = FakeStripe.Event(type, JsonNode.Parse(data)!.AsObject());

        var outcome = await DeliverAsync(body, "whsec_new");

        Assert.Equal("Unprocessable", outcome["outcome"]!.GetValue<string>());
        Assert.Equal(1L, await App.DataSource.ScalarAsync<long>($"select count(*) from payment_event where provider_event_id = '{EventId(body)}'"));
        Assert.Equal("AlreadyProcessed", (await DeliverAsync(body, "whsec_new"))["outcome"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_charge_refunded_event_whose_refund_lacks_an_id_changes_no_refund_and_a_whole_one_completes_them()
    {
        var (customer, holdId, _) = await HoldAsync();
        var paid = await customer.PostAsJsonAsync($"/holds/{holdId}/booking", new { payment_method = "pm_card_visa" }).ExpectAsync(HttpStatusCode.Created);
        var bookingId = paid["booking_id"]!.GetValue<long>();
        await customer.PostAsJsonAsync($"/bookings/{bookingId}/cancellation", new { }).ExpectAsync(HttpStatusCode.OK);
        var providerRefund = await EventuallyNotNull($"select provider_refund_id from refund where booking_id = {bookingId}");
        static JsonObject Charge(params JsonObject[] refunds) => new()
        {
            ["id"] = "ch_" + Guid.NewGuid().ToString("N")[..20],
            ["object"] = "charge",
            ["refunded"] = true,
            ["refunds"] = new JsonObject { ["object"] = "list", ["data"] = new JsonArray(refunds) },
        };

        var broken = await DeliverAsync(FakeStripe.Event("charge.refunded", Charge(
            new JsonObject { ["id"] = providerRefund, ["object"] = "refund", ["status"] = "succeeded" },
            new JsonObject { ["object"] = "refund", ["status"] = "succeeded" })), "whsec_new");

        Assert.Equal("Unprocessable", broken["outcome"]!.GetValue<string>());
        Assert.Equal("pending", await App.DataSource.ScalarAsync<string>($"select status from refund where booking_id = {bookingId}"));

        var whole = await DeliverAsync(FakeStripe.Event("charge.refunded", Charge(new JsonObject { ["id"] = providerRefund, ["object"] = "refund", ["status"] = "succeeded" })), "whsec_new");

        Assert.Equal("RefundUpdated", whole["outcome"]!.GetValue<string>());
        Assert.Equal("succeeded", await App.DataSource.ScalarAsync<string>($"select status from refund where booking_id = {bookingId}"));
    }

    [Fact]
    public async Task A_charge_refunded_event_that_fails_after_it_was_recorded_keeps_no_record_and_its_redelivery_applies_it()
    {
        var (customer, holdId, _) = await HoldAsync();
        var paid = await customer.PostAsJsonAsync($"/holds/{holdId}/booking", new { payment_method = "pm_card_visa" }).ExpectAsync(HttpStatusCode.Created);
        var bookingId = paid["booking_id"]!.GetValue<long>();
        await customer.PostAsJsonAsync($"/bookings/{bookingId}/cancellation", new { }).ExpectAsync(HttpStatusCode.OK);
        var providerRefund = await EventuallyNotNull($"select provider_refund_id from refund where booking_id = {bookingId}");
        var body = FakeStripe.Event("charge.refunded", new JsonObject
        {
            ["id"] = "ch_" + Guid.NewGuid().ToString("N")[..20],
            ["object"] = "charge",
            ["refunded"] = true,
            ["refunds"] = new JsonObject
            {
                ["object"] = "list",
                ["data"] = new JsonArray(new JsonObject { ["id"] = providerRefund, ["object"] = "refund", ["status"] = "succeeded" }),
            },
        });
        // A failure injected after the event is recorded, while its refund is applied: the crash
        // between "recorded" and "applied" that used to leave the event processed and nothing applied.
        var trigger = $"fail_refund_{bookingId}";
        await Execute($"""
            create function {trigger}() returns trigger language plpgsql as $$
            begin raise exception 'injected failure'; end $$;
            create trigger {trigger} before update on refund for each row
            when (new.provider_refund_id = '{providerRefund}' and new.status = 'succeeded') execute function {trigger}();
            """);
        try
        {
            var failed = await PostWebhookAsync(body, FakeStripe.Sign(body, "whsec_new", DateTimeOffset.UtcNow));
            Assert.False(failed.IsSuccessStatusCode, "a failed event must not be acknowledged: Stripe redelivers what it was not 2xx for");
        }
        finally
        {
            await Execute($"drop trigger {trigger} on refund; drop function {trigger}();");
        }

        Assert.Equal(0L, await App.DataSource.ScalarAsync<long>($"select count(*) from payment_event where provider_event_id = '{EventId(body)}'"));
        Assert.Equal("pending", await App.DataSource.ScalarAsync<string>($"select status from refund where booking_id = {bookingId}"));

        var redelivered = await DeliverAsync(body, "whsec_new");

        Assert.Equal("RefundUpdated", redelivered["outcome"]!.GetValue<string>());
        Assert.Equal("succeeded", await App.DataSource.ScalarAsync<string>($"select status from refund where booking_id = {bookingId}"));
        Assert.Equal(1L, await App.DataSource.ScalarAsync<long>($"select count(*) from payment_event where provider_event_id = '{EventId(body)}'"));
    }

    private async Task Execute(string sql)
    {
        await using var command = App.DataSource.CreateCommand(sql);
        await command.ExecuteNonQueryAsync();
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("[]")]
    [InlineData("""{"object":"event","type":"payment_intent.succeeded","data":{"object":{"object":"payment_intent"}}}""")] // no id to record it by
    public async Task A_signed_body_that_is_not_an_event_is_a_400(string body)
    {
        var problem = await PostWebhookAsync(body, FakeStripe.Sign(body, "whsec_new", DateTimeOffset.UtcNow)).ExpectAsync(HttpStatusCode.BadRequest);

        Assert.Equal("Not a Stripe event.", problem["title"]!.GetValue<string>());
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
        // The fake Stripe is shared by the class's tests: find this booking's refund by its key.
        bool Mine(FakeStripe.Request r) => r.Path == "/v1/refunds" && r.IdempotencyKey?.StartsWith($"refund-{bookingId}-", StringComparison.Ordinal) == true;
        await Eventually.EqualAsync(true, () => Task.FromResult(Stripe.Requests.Any(Mine)));
        Assert.Equal("2000", Stripe.Requests.First(Mine).Form["amount"]);
        var providerRefund = await EventuallyNotNull($"select provider_refund_id from refund where booking_id = {bookingId}");
        Assert.Equal("pending", await App.DataSource.ScalarAsync<string>($"select status from refund where booking_id = {bookingId}"));

        await DeliverAsync(FakeStripe.Event("refund.updated", new JsonObject { ["id"] = providerRefund, ["object"] = "refund", ["status"] = "succeeded" }), "whsec_new");

        Assert.Equal("succeeded", await App.DataSource.ScalarAsync<string>($"select status from refund where booking_id = {bookingId}"));
        Assert.Equal("refunded", await App.DataSource.ScalarAsync<string>($"select status from booking where booking_id = {bookingId}"));
    }

    private async Task<string> EventuallyNotNull(string sql)
    {
        for (var i = 0; i < 400; i++)
        {
            if (await App.DataSource.ScalarAsync<string?>(sql) is { } value)
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

    private static string EventId(string body) => JsonNode.Parse(body)!["id"]!.GetValue<string>();
}

/// <summary>The app configured for a Stripe that nothing listens for (the discard port on loopback: connection refused).</summary>
public sealed class UnreachableStripeFixture : AppFixture
{
    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        ["Payments:Provider"] = "stripe",
        ["Payments:Stripe:BaseUrl"] = "http://127.0.0.1:9",
        ["Payments:Stripe:SecretKey"] = FakeStripe.SecretKey,
        ["Payments:Stripe:WebhookSecrets:0"] = "whsec_new",
    };
}

public sealed class UnreachableStripeTests(UnreachableStripeFixture fixture) : IClassFixture<UnreachableStripeFixture>
{
    [Fact]
    public async Task An_unreachable_Stripe_is_a_502_that_names_no_internal_address_and_the_booking_stays_payable()
    {
        var show = await TestCatalogue.ShowAsync(fixture.App.DataSource);
        var (customer, _) = await fixture.App.CustomerAsync();
        var hold = await customer.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "3A" } }).ExpectAsync(HttpStatusCode.Created);

        var problem = await customer.PostAsJsonAsync($"/holds/{hold["hold_id"]}/booking", new { payment_method = "pm_card_visa" }).ExpectAsync(HttpStatusCode.BadGateway);

        Assert.Equal("Payment provider unavailable.", problem["title"]!.GetValue<string>());
        Assert.StartsWith("The payment provider could not be reached. Booking ", problem["detail"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.DoesNotContain("127.0.0.1", problem.ToJsonString(), StringComparison.Ordinal);
        Assert.DoesNotContain("refused", problem.ToJsonString(), StringComparison.OrdinalIgnoreCase);
        var bookingId = problem["booking_id"]!.GetValue<long>();
        Assert.Equal("pending_payment", await fixture.App.DataSource.ScalarAsync<string>($"select status from booking where booking_id = {bookingId}"));
    }
}

/// <summary>The app configured for Stripe with a 2 s HTTP timeout, so a Stripe that never answers is given up on quickly.</summary>
public sealed class SlowStripeFixture : StripeFixture
{
    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?>(base.Settings) { ["Payments:Stripe:TimeoutSeconds"] = "2" };
}

public sealed class SlowStripeTests(SlowStripeFixture fixture) : IClassFixture<SlowStripeFixture>
{
    [Fact]
    public async Task A_request_that_outlives_the_configured_timeout_is_retried_with_the_same_idempotency_key()
    {
        var (customer, holdId) = await HoldAsync();
        fixture.Stripe.HangNext(1);
        var clock = System.Diagnostics.Stopwatch.StartNew();

        var paid = await customer.PostAsJsonAsync($"/holds/{holdId}/booking", new { payment_method = "pm_card_visa" }).ExpectAsync(HttpStatusCode.Created);

        Assert.Equal("confirmed", paid["status"]!.GetValue<string>());
        var attempts = fixture.Stripe.Requests.Where(r => r.Form.GetValueOrDefault("metadata[booking_id]") == paid["booking_id"]!.ToString()).ToList();
        Assert.InRange(attempts.Count, 2, 4);
        Assert.Single(attempts.Select(a => a.IdempotencyKey).Distinct());
        // Our 2 s timeout gave up on the hung try, not Stripe.net's default of 80 s.
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(40), $"took {clock.Elapsed}");
    }

    [Fact]
    public async Task A_Stripe_that_never_answers_is_a_502_once_the_retries_are_spent()
    {
        var (customer, holdId) = await HoldAsync();
        fixture.Stripe.HangNext(int.MaxValue);
        JsonObject problem;
        try
        {
            problem = await customer.PostAsJsonAsync($"/holds/{holdId}/booking", new { payment_method = "pm_card_visa" }).ExpectAsync(HttpStatusCode.BadGateway);
        }
        finally
        {
            fixture.Stripe.HangNext(0);
        }

        Assert.Equal("Payment provider unavailable.", problem["title"]!.GetValue<string>());
        Assert.StartsWith("The payment provider did not answer in time. Booking ", problem["detail"]!.GetValue<string>(), StringComparison.Ordinal);
        // One try and three retries; a try that timed out before reaching the server is not seen here.
        var attempts = fixture.Stripe.Requests.Where(r => r.Form.GetValueOrDefault("metadata[booking_id]") == problem["booking_id"]!.ToString()).ToList();
        Assert.InRange(attempts.Count, 1, 4);
        Assert.Single(attempts.Select(a => a.IdempotencyKey).Distinct());
    }

    private async Task<(HttpClient Customer, long HoldId)> HoldAsync()
    {
        var show = await TestCatalogue.ShowAsync(fixture.App.DataSource);
        var (customer, _) = await fixture.App.CustomerAsync();
        var hold = await customer.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "3A" } }).ExpectAsync(HttpStatusCode.Created);
        return (customer, hold["hold_id"]!.GetValue<long>());
    }
}

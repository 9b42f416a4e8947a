using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Holdfast.FakeIdentityProvider;
using Holdfast.Tests.Infrastructure;
using Microsoft.AspNetCore.WebUtilities;

namespace Holdfast.Tests.Features.Accounts;

/// <summary>An app whose one external provider, <c>test</c>, is a real OpenID Connect provider on a loopback port.</summary>
public sealed class ExternalLoginFixture : AppFixture
{
    public const string RedirectUri = "https://spa.example/signed-in";

    private FakeOidcProvider? provider;

    public FakeOidcProvider Provider => provider ?? throw new InvalidOperationException("Fixture not started.");

    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        ["ExternalLogin:Providers:0:Name"] = "test",
        ["ExternalLogin:Providers:0:Authority"] = Provider.Issuer.ToString(),
        ["ExternalLogin:Providers:0:ClientId"] = FakeOidcProvider.TestClientId,
        ["ExternalLogin:Providers:0:ClientSecret"] = FakeOidcProvider.TestClientSecret,
        ["ExternalLogin:Providers:0:RequireHttpsMetadata"] = "false",
        ["ExternalLogin:Providers:0:DisplayName"] = "Test provider",
        // A provider nobody answers for (a port just closed), to see a start that cannot reach it.
        ["ExternalLogin:Providers:1:Name"] = "down",
        ["ExternalLogin:Providers:1:Authority"] = $"http://127.0.0.1:{ClosedPort()}/",
        ["ExternalLogin:Providers:1:ClientId"] = "whoever",
        ["ExternalLogin:Providers:1:RequireHttpsMetadata"] = "false",
        ["ExternalLogin:RedirectUris:0"] = RedirectUri,
    };

    private static int ClosedPort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public override async ValueTask InitializeAsync()
    {
        provider = await FakeOidcProvider.StartAsync();
        await base.InitializeAsync();
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        if (provider is not null)
        {
            await provider.DisposeAsync();
        }
    }
}

public sealed class ExternalLoginTests(ExternalLoginFixture fixture) : IClassFixture<ExternalLoginFixture>
{
    private const string Password = "a long enough password";
    private static readonly string Start = $"/auth/external/test?redirect_uri={Uri.EscapeDataString(ExternalLoginFixture.RedirectUri)}";

    private TestApp App => fixture.App;
    private FakeOidcProvider Provider => fixture.Provider;

    /// <summary>
    /// A browser: one cookie jar for Holdfast (the in-process server, contract-checked) and the
    /// provider (a real loopback port); redirects are followed by the test, one at a time.
    /// </summary>
    private sealed class Browser : IDisposable
    {
        private readonly CookieContainer cookies = new();
        private readonly HttpClient holdfast;
        private readonly HttpClient web;

        public Browser(TestApp app)
        {
            holdfast = app.CreateBrowserClient(cookies);
            web = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = true, CookieContainer = cookies });
        }

        public async Task<HttpResponseMessage> GetAsync(string url)
        {
            var uri = new Uri(new Uri("http://localhost"), url);
            return await (uri.Host == "localhost" ? holdfast : web).GetAsync(uri);
        }

        /// <summary>Follows 302s from <paramref name="url"/> until one leaves for another site than Holdfast and the provider, or an answer is not a redirect.</summary>
        public async Task<Dance> SignInAsync(string url, Uri provider)
        {
            var callback = (string?)null;
            for (var hop = 0; hop < 5; hop++)
            {
                using var response = await GetAsync(url);
                if (response.StatusCode != HttpStatusCode.Found)
                {
                    return new Dance(callback, null, response.StatusCode, await response.Content.ReadAsStringAsync(), response.Content.Headers.ContentType?.MediaType);
                }

                var next = new Uri(new Uri(url, UriKind.RelativeOrAbsolute).IsAbsoluteUri ? new Uri(url) : new Uri("http://localhost" + url), response.Headers.Location!);
                if (next.Host == "localhost" && next.AbsolutePath.EndsWith("/callback", StringComparison.Ordinal))
                {
                    callback = next.ToString();
                }
                else if (next.Host != "localhost" && next.Authority != provider.Authority)
                {
                    return new Dance(callback, next, response.StatusCode, null, null);
                }

                url = next.ToString();
            }

            throw new InvalidOperationException("Too many redirects.");
        }

        public void Dispose()
        {
            holdfast.Dispose();
            web.Dispose();
        }
    }

    /// <summary>How a redirect dance ended: at the client's redirect URI (<see cref="Landing"/>) or with an answer from Holdfast.</summary>
    private sealed record Dance(string? Callback, Uri? Landing, HttpStatusCode Status, string? Body, string? MediaType)
    {
        public string Code => QueryHelpers.ParseQuery(Landing!.Query)["code"].ToString();

        /// <summary>The sign-in was refused: back at the client's redirect URI with <c>error</c> (and no code); returns the error.</summary>
        public string Refused()
        {
            Assert.True(Landing is not null, $"Expected a redirect to the client, got {(int)Status}: {Body}");
            Assert.StartsWith(ExternalLoginFixture.RedirectUri + "?", Landing!.ToString(), StringComparison.Ordinal);
            var query = QueryHelpers.ParseQuery(Landing.Query);
            Assert.False(query.ContainsKey("code"));
            Assert.False(string.IsNullOrEmpty(query["error_description"]));
            return query["error"].ToString();
        }

        public JsonObject Problem(HttpStatusCode status)
        {
            Assert.True(Status == status, $"Expected {(int)status}, got {(int)Status}: {Body}");
            Assert.Equal("application/problem+json", MediaType);
            var problem = JsonNode.Parse(Body!)!.AsObject();
            Assert.DoesNotContain("   at ", Body, StringComparison.Ordinal); // no stack trace
            return problem;
        }
    }

    private static FakeOidcProvider.FakeUser NewUser(bool verified = true, string? email = null) =>
        new($"sub-{Guid.NewGuid():N}", email ?? $"x{Guid.NewGuid():N}@example.com", verified, "Ada External");

    private async Task<JsonObject> ExchangeAsync(string code, HttpStatusCode status = HttpStatusCode.OK)
    {
        using var client = App.CreateClient();
        return await client.PostAsJsonAsync("/auth/external/token", new { code }).ExpectAsync(status);
    }

    [Fact]
    public async Task A_first_sign_in_creates_an_account_from_the_verified_email_and_ends_in_holdfast_tokens()
    {
        var user = NewUser();
        Provider.NextUser = user;
        using var browser = new Browser(App);
        var dance = await browser.SignInAsync(Start, Provider.Issuer);

        Assert.NotNull(dance.Landing);
        Assert.StartsWith(ExternalLoginFixture.RedirectUri + "?code=", dance.Landing!.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("token", dance.Landing.Query, StringComparison.OrdinalIgnoreCase);

        // The token request carried the PKCE verifier and the client secret.
        var request = Provider.TokenRequests.Last();
        Assert.Equal("authorization_code", request["grant_type"]);
        Assert.False(string.IsNullOrEmpty(request["code_verifier"]));
        Assert.Equal(FakeOidcProvider.TestClientSecret, request["client_secret"]);

        var tokens = await ExchangeAsync(dance.Code);
        var userId = tokens["user_id"]!.GetValue<long>();
        Assert.Equal("customer", tokens["role"]!.GetValue<string>());
        Assert.Equal(user.Email, await App.DataSource.ScalarAsync<string>("select email from app_user where app_user_id = $1 and password_hash is null", userId));
        Assert.Equal("Ada External", await App.DataSource.ScalarAsync<string>("select display_name from app_user where app_user_id = $1", userId));

        // The access token works against the rest of the API, unchanged.
        using var api = App.CreateClient();
        api.DefaultRequestHeaders.Authorization = new("Bearer", tokens["access_token"]!.GetValue<string>());
        var identities = JsonNode.Parse(await api.GetStringAsync("/auth/identities"))!.AsArray();
        Assert.Equal("test", Assert.Single(identities)!["provider"]!.GetValue<string>());

        // The same identity signs in to the same account next time.
        using var again = new Browser(App);
        var second = await again.SignInAsync(Start, Provider.Issuer);
        Assert.Equal(userId, (await ExchangeAsync(second.Code))["user_id"]!.GetValue<long>());
    }

    [Fact]
    public async Task A_code_is_exchanged_once()
    {
        Provider.NextUser = NewUser();
        using var browser = new Browser(App);
        var dance = await browser.SignInAsync(Start, Provider.Issuer);
        await ExchangeAsync(dance.Code);

        var replay = await ExchangeAsync(dance.Code, HttpStatusCode.Unauthorized);
        Assert.Equal("Code refused.", replay["title"]!.GetValue<string>());
        await ExchangeAsync("not-a-code", HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task A_replayed_callback_is_refused_as_problem_details()
    {
        Provider.NextUser = NewUser();
        using var browser = new Browser(App);
        var dance = await browser.SignInAsync(Start, Provider.Issuer);
        Assert.NotNull(dance.Landing);
        var codes = await App.DataSource.ScalarAsync<long>("select count(*) from external_grant where purpose = 'login'");

        // The same browser (the correlation cookie is spent) and another browser (it never had one).
        using var replay = await browser.GetAsync(dance.Callback!);
        var again = new Dance(dance.Callback, null, replay.StatusCode, await replay.Content.ReadAsStringAsync(), replay.Content.Headers.ContentType?.MediaType);
        Assert.Contains("state", again.Problem(HttpStatusCode.BadRequest)["detail"]!.GetValue<string>(), StringComparison.Ordinal);
        using var other = new Browser(App);
        using var stolen = await other.GetAsync(dance.Callback!);
        new Dance(dance.Callback, null, stolen.StatusCode, await stolen.Content.ReadAsStringAsync(), stolen.Content.Headers.ContentType?.MediaType)
            .Problem(HttpStatusCode.BadRequest);

        Assert.Equal(codes, await App.DataSource.ScalarAsync<long>("select count(*) from external_grant where purpose = 'login'"));
    }

    [Fact]
    public async Task A_wrong_state_is_refused_as_problem_details()
    {
        Provider.NextUser = NewUser();
        using var browser = new Browser(App);
        using var start = await browser.GetAsync(Start);
        using var authorize = await browser.GetAsync(start.Headers.Location!.ToString());
        var callback = authorize.Headers.Location!.ToString();
        var query = QueryHelpers.ParseQuery(new Uri(callback).Query);
        Assert.False(string.IsNullOrEmpty(query["state"]));

        // A state this app never issued, and one from another sign-in attempt, in the same browser.
        var forged = QueryHelpers.AddQueryString("/auth/external/test/callback", new Dictionary<string, string?> { ["code"] = query["code"], ["state"] = "forged", ["iss"] = query["iss"] });
        using var forgedResponse = await browser.GetAsync(forged);
        Assert.Equal(HttpStatusCode.BadRequest, forgedResponse.StatusCode);
        Assert.Equal("application/problem+json", forgedResponse.Content.Headers.ContentType?.MediaType);

        using var elsewhere = new Browser(App);
        using var otherStart = await elsewhere.GetAsync(Start);
        using var otherAuthorize = await elsewhere.GetAsync(otherStart.Headers.Location!.ToString());
        var otherState = QueryHelpers.ParseQuery(otherAuthorize.Headers.Location!.Query)["state"].ToString();
        var swapped = QueryHelpers.AddQueryString("/auth/external/test/callback", new Dictionary<string, string?> { ["code"] = query["code"], ["state"] = otherState, ["iss"] = query["iss"] });
        using var swappedResponse = await browser.GetAsync(swapped);
        Assert.Equal(HttpStatusCode.BadRequest, swappedResponse.StatusCode);
        Assert.Equal("application/problem+json", swappedResponse.Content.Headers.ContentType?.MediaType);

        // The real callback still works once: the failures spent nothing of it.
        using var real = await browser.GetAsync(callback);
        Assert.Equal(HttpStatusCode.Found, real.StatusCode);
        Assert.StartsWith(ExternalLoginFixture.RedirectUri, real.Headers.Location!.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_provider_that_refuses_is_answered_with_problem_details()
    {
        Provider.NextUser = null;
        using var browser = new Browser(App);
        var dance = await browser.SignInAsync(Start, Provider.Issuer);
        Assert.Equal("access_denied", dance.Refused());
    }

    [Fact]
    public async Task An_unverified_email_creates_no_account()
    {
        var user = NewUser(verified: false);
        Provider.NextUser = user;
        using var browser = new Browser(App);
        Assert.Equal("email_not_verified", (await browser.SignInAsync(Start, Provider.Issuer)).Refused());
        Assert.Equal(0L, await App.DataSource.ScalarAsync<long>("select count(*) from app_user where lower(email) = lower($1)", user.Email!));
    }

    [Fact]
    public async Task An_existing_account_with_the_email_is_never_linked_silently()
    {
        var email = await App.RegisterAsync(Password);
        Provider.NextUser = NewUser(email: email.ToUpperInvariant());
        using var browser = new Browser(App);
        Assert.Equal("account_exists", (await browser.SignInAsync(Start, Provider.Issuer)).Refused());
        Assert.Equal(0L, await App.DataSource.ScalarAsync<long>(
            "select count(*) from external_identity i join app_user u using (app_user_id) where lower(u.email) = lower($1)", email));
        Assert.Equal(0L, await App.DataSource.ScalarAsync<long>("select count(*) from external_grant g join app_user u using (app_user_id) where lower(u.email) = lower($1)", email));
    }

    [Fact]
    public async Task A_signed_in_account_links_an_identity_then_signs_in_with_it()
    {
        var email = await App.RegisterAsync(Password);
        var (client, tokens) = await App.LoginAsync(email, Password);
        var userId = tokens["user_id"]!.GetValue<long>();
        Provider.NextUser = NewUser(email: email);

        var link = await client.PostAsJsonAsync("/auth/external/test/link", new { redirect_uri = ExternalLoginFixture.RedirectUri }).ExpectAsync(HttpStatusCode.OK);
        var authorizeUrl = link["authorize_url"]!.GetValue<string>();
        using (var browser = new Browser(App))
        {
            var dance = await browser.SignInAsync(authorizeUrl, Provider.Issuer);
            Assert.Equal(userId, (await ExchangeAsync(dance.Code))["user_id"]!.GetValue<long>());

            // The ticket was spent.
            using var again = await browser.GetAsync(authorizeUrl);
            Assert.Equal(HttpStatusCode.BadRequest, again.StatusCode);
        }

        var identities = JsonNode.Parse(await client.GetStringAsync("/auth/identities"))!.AsArray();
        Assert.Equal(email, Assert.Single(identities)!["email"]!.GetValue<string>());
        Assert.Equal(1L, await App.DataSource.ScalarAsync<long>("select count(*) from audit_log where action = 'user.external_identity_linked' and actor_user_id = $1", userId));

        // Signing in with the provider now reaches the same account, with no ticket.
        using var later = new Browser(App);
        Assert.Equal(userId, (await ExchangeAsync((await later.SignInAsync(Start, Provider.Issuer)).Code))["user_id"]!.GetValue<long>());
    }

    [Fact]
    public async Task An_identity_linked_to_one_account_cannot_be_linked_to_another()
    {
        var user = NewUser();
        Provider.NextUser = user;
        using (var first = new Browser(App))
        {
            await ExchangeAsync((await first.SignInAsync(Start, Provider.Issuer)).Code);
        }

        var (other, _) = await App.LoginAsync(await App.RegisterAsync(Password), Password);
        var link = await other.PostAsJsonAsync("/auth/external/test/link", new { redirect_uri = ExternalLoginFixture.RedirectUri }).ExpectAsync(HttpStatusCode.OK);
        using var browser = new Browser(App);
        Assert.Equal("identity_linked_elsewhere", (await browser.SignInAsync(link["authorize_url"]!.GetValue<string>(), Provider.Issuer)).Refused());
    }

    [Fact]
    public async Task A_disabled_account_is_refused_however_it_signs_in()
    {
        var email = await App.RegisterAsync(Password);
        var (client, tokens) = await App.LoginAsync(email, Password);
        Provider.NextUser = NewUser(email: email);
        var link = await client.PostAsJsonAsync("/auth/external/test/link", new { redirect_uri = ExternalLoginFixture.RedirectUri }).ExpectAsync(HttpStatusCode.OK);
        string code;
        using (var linking = new Browser(App))
        {
            code = (await linking.SignInAsync(link["authorize_url"]!.GetValue<string>(), Provider.Issuer)).Code;
        }

        await App.DataSource.ScalarAsync<int?>("update app_user set disabled_at = now() where app_user_id = $1", tokens["user_id"]!.GetValue<long>());

        using var browser = new Browser(App);
        Assert.Equal("account_disabled", (await browser.SignInAsync(Start, Provider.Issuer)).Refused());
        await ExchangeAsync(code, HttpStatusCode.Unauthorized); // issued before the account was disabled
        using var anonymous = App.CreateClient();
        await anonymous.PostAsJsonAsync("/auth/login", new { email, password = Password }).ExpectAsync(HttpStatusCode.Unauthorized);
        await anonymous.PostAsJsonAsync("/auth/refresh", new { refresh_token = tokens["refresh_token"]!.GetValue<string>() }).ExpectAsync(HttpStatusCode.Unauthorized);
        // Its access tokens are refused as soon as the session gate hears of it (NOTIFY from the trigger).
        await Eventually.EqualAsync(HttpStatusCode.Unauthorized, async () =>
        {
            using var refused = await client.GetAsync("/auth/identities");
            return refused.StatusCode;
        });
    }

    [Fact]
    public async Task Holdfast_two_factor_applies_to_external_sign_ins()
    {
        Provider.NextUser = NewUser();
        using (var first = new Browser(App))
        {
            var userId = (await ExchangeAsync((await first.SignInAsync(Start, Provider.Issuer)).Code))["user_id"]!.GetValue<long>();
            await App.DataSource.ScalarAsync<int?>("update app_user set totp_secret = '\\x00'::bytea, totp_enabled_at = now() where app_user_id = $1", userId);
        }

        using var browser = new Browser(App);
        var answer = await ExchangeAsync((await browser.SignInAsync(Start, Provider.Issuer)).Code);
        Assert.True(answer["mfa_required"]!.GetValue<bool>());
        Assert.Null(answer["access_token"]);
    }

    [Fact]
    public async Task The_last_way_to_sign_in_cannot_be_unlinked()
    {
        Provider.NextUser = NewUser();
        using var browser = new Browser(App);
        var tokens = await ExchangeAsync((await browser.SignInAsync(Start, Provider.Issuer)).Code);
        using var client = App.CreateClient();
        client.DefaultRequestHeaders.Authorization = new("Bearer", tokens["access_token"]!.GetValue<string>());
        var identity = JsonNode.Parse(await client.GetStringAsync("/auth/identities"))!.AsArray()[0]!["identity_id"]!.GetValue<long>();
        await client.DeleteAsync($"/auth/identities/{identity}").ExpectAsync(HttpStatusCode.Conflict);

        // With a password, it can go; a stranger cannot see it.
        var (stranger, _) = await App.CustomerAsync();
        await stranger.DeleteAsync($"/auth/identities/{identity}").ExpectAsync(HttpStatusCode.NotFound);
        await App.DataSource.ScalarAsync<int?>("update app_user set password_hash = 'x' where app_user_id = $1", tokens["user_id"]!.GetValue<long>());
        await client.DeleteAsync($"/auth/identities/{identity}").ExpectAsync(HttpStatusCode.NoContent);
        Assert.Empty(JsonNode.Parse(await client.GetStringAsync("/auth/identities"))!.AsArray());
        Assert.Equal(1L, await App.DataSource.ScalarAsync<long>("select count(*) from audit_log where action = 'user.external_identity_unlinked' and entity_id = $1", identity));
    }

    [Fact]
    public async Task Only_allowed_redirect_uris_and_known_providers_start_a_sign_in()
    {
        using var browser = new Browser(App);
        using var wrong = await browser.GetAsync($"/auth/external/test?redirect_uri={Uri.EscapeDataString("https://evil.example/steal")}");
        Assert.Equal(HttpStatusCode.BadRequest, wrong.StatusCode);
        Assert.Contains("redirect_uri", await wrong.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        using var missing = await browser.GetAsync("/auth/external/test");
        Assert.Equal(HttpStatusCode.BadRequest, missing.StatusCode);
        using var unknown = await browser.GetAsync($"/auth/external/nope?redirect_uri={Uri.EscapeDataString(ExternalLoginFixture.RedirectUri)}");
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        using var unknownCallback = await browser.GetAsync("/auth/external/nope/callback?code=x&state=y");
        Assert.Equal(HttpStatusCode.NotFound, unknownCallback.StatusCode);
    }

    [Fact]
    public async Task The_configured_providers_are_listed_for_anybody_with_their_start_paths()
    {
        using var anonymous = App.CreateClient();
        using var response = await anonymous.GetAsync("/auth/external");
        var providers = JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsArray();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(
            [("test", "Test provider", "/auth/external/test"), ("down", "Down", "/auth/external/down")],
            providers.Select(p => (p!["name"]!.GetValue<string>(), p["display_name"]!.GetValue<string>(), p["start_path"]!.GetValue<string>())));
        Assert.NotNull(response.Headers.ETag);

        using var again = new HttpRequestMessage(HttpMethod.Get, "/auth/external");
        again.Headers.IfNoneMatch.Add(response.Headers.ETag!);
        using var notModified = await anonymous.SendAsync(again);
        Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);
    }

    [Fact]
    public async Task A_provider_that_cannot_be_reached_is_a_502_problem()
    {
        using var browser = new Browser(App);
        using var response = await browser.GetAsync($"/auth/external/down?redirect_uri={Uri.EscapeDataString(ExternalLoginFixture.RedirectUri)}");
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }
}

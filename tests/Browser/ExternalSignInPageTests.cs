using System.Net;
using Holdfast.FakeIdentityProvider;
using Holdfast.Tests.Infrastructure;
using Microsoft.Playwright;

namespace Holdfast.Tests.Browser;

/// <summary>
/// The browser fixture with one identity provider, <c>local</c>: the fake provider in its interactive
/// mode (the sign-in form scripts/run.sh shows), and the customer page's signed-in.html allowed as
/// the redirect URI, which names the app's port, so the port is chosen before the app starts.
/// </summary>
public sealed class ExternalSignInFixture : BrowserFixture
{
    private readonly int port = FreePort();
    private FakeOidcProvider? provider;

    public FakeOidcProvider Provider => provider ?? throw new InvalidOperationException("Fixture not started.");

    /// <summary>Where this app's texts go (<c>Sms:Mode=pickup</c>, the default): one <c>.txt</c> per message.</summary>
    public string SmsFolder { get; } = Path.Combine(Path.GetTempPath(), $"holdfast-test-sms-{Guid.NewGuid():N}");

    protected override int LoopbackPort => port;

    protected override IDictionary<string, string?> Settings
    {
        get
        {
            var settings = base.Settings;
            settings["ExternalLogin:Providers:0:Name"] = "local";
            settings["ExternalLogin:Providers:0:Authority"] = Provider.Issuer.ToString();
            settings["ExternalLogin:Providers:0:ClientId"] = FakeOidcProvider.TestClientId;
            settings["ExternalLogin:Providers:0:ClientSecret"] = FakeOidcProvider.TestClientSecret;
            settings["ExternalLogin:Providers:0:RequireHttpsMetadata"] = "false";
            settings["ExternalLogin:RedirectUris:0"] = $"http://127.0.0.1:{port}/signed-in.html";
            settings["Sms:PickupDirectory"] = SmsFolder;
            return settings;
        }
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public override async ValueTask InitializeAsync()
    {
        provider = await FakeOidcProvider.StartAsync(new FakeOidcProviderOptions { Interactive = true });
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

/// <summary>
/// "Sign in with Local" on the customer page, through the provider's own sign-in form, back to
/// signed-in.html, which exchanges the one-time code and returns to the customer page signed in
/// (issue 16); and a refused sign-in, which signed-in.html explains.
/// </summary>
public sealed class ExternalSignInPageTests(ExternalSignInFixture fixture) : IClassFixture<ExternalSignInFixture>
{
    private TestApp App => fixture.App;

    private string Page(string path) => $"{fixture.ApiOrigin}/{path}";

    private static async Task SignInAtTheProviderAsync(IPage page, string email, string name)
    {
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in with Local" }).ClickAsync();
        await page.GetByRole(AriaRole.Heading, new() { Name = "Local identity provider" }).WaitForAsync();
        await page.GetByLabel("Email", new() { Exact = true }).FillAsync(email);
        await page.GetByLabel("Display name").FillAsync(name);
        Assert.True(await page.GetByLabel("Email verified").IsCheckedAsync());
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in", Exact = true }).ClickAsync();
    }

    [Fact]
    public async Task Signing_in_with_the_local_provider_lands_on_the_customer_page_as_a_new_customer()
    {
        var email = $"grace-{Guid.NewGuid():N}@example.com";
        await using var visitor = await fixture.NewPageAsync();
        var page = visitor.Page;
        var sent = await visitor.RecordRequestsAsync();
        await page.GotoAsync(Page(""));

        await SignInAtTheProviderAsync(page, email, "Grace External");

        // Back on the customer page, signed in: the account area, my bookings live.
        await page.Locator("#account", new() { HasText = $"Signed in as {email}" }).WaitForAsync();
        await page.Locator("#mine:not([hidden])").WaitForAsync();
        await page.Locator("#mine-conn[data-state='live']").WaitForAsync();
        Assert.True(await page.Locator("#signin").IsHiddenAsync());
        Assert.Equal(Page(""), page.Url);

        // The way it came: signed-in.html with a code, exchanged once by a POST (never a token in a URL).
        var landing = await sent.WaitForAsync(r => r.Type == "Document" && r.Url.StartsWith(Page("signed-in.html?code="), StringComparison.Ordinal));
        await sent.WaitForAsync(r => r.Method == "POST" && r.Url == Page("auth/external/token"));
        Assert.DoesNotContain("token", new Uri(landing.Url).Query, StringComparison.OrdinalIgnoreCase);
        Assert.Equal("Grace External", await App.DataSource.ScalarAsync<string>(
            "select u.display_name from app_user u join external_identity i using (app_user_id) where i.provider = 'local' and u.email = $1 and u.password_hash is null", email));
    }

    [Fact]
    public async Task The_account_area_lists_linked_sign_ins_and_verifies_a_phone_for_texts()
    {
        var email = $"linus-{Guid.NewGuid():N}@example.com";
        await using var visitor = await fixture.NewPageAsync();
        var page = visitor.Page;
        await page.GotoAsync(Page(""));
        await SignInAtTheProviderAsync(page, email, "Linus External");
        await page.Locator("#me:not([hidden])").WaitForAsync();

        // The provider is listed; it is this account's only way in, so unlinking it is refused.
        var identity = page.Locator(".identity[data-provider='local']", new() { HasText = email });
        await identity.WaitForAsync();
        await identity.GetByRole(AriaRole.Button, new() { Name = "Unlink" }).ClickAsync();
        await page.Locator("#identities-error .problem", new() { HasText = "Last way to sign in." }).WaitForAsync();
        Assert.Equal(1, await page.Locator(".identity").CountAsync());

        // A number, verified with the code from the text, then one kind of text chosen.
        var number = "+4477009" + Random.Shared.Next(10000, 99999).ToString(System.Globalization.CultureInfo.InvariantCulture);
        await page.Locator("#phone-form input[name='phone_number']").FillAsync(number);
        await page.GetByRole(AriaRole.Button, new() { Name = "Send a code" }).ClickAsync();
        await page.Locator("#phone-verify-form:not([hidden])").WaitForAsync();
        await Eventually.EqualAsync(true, () => Task.FromResult(CodeSentTo(number) is not null));
        await page.Locator("#phone-verify-form input[name='code']").FillAsync(CodeSentTo(number)!);
        await page.GetByRole(AriaRole.Button, new() { Name = "Verify number" }).ClickAsync();
        await page.Locator("#phone-state", new() { HasText = $"Texts go to {number}." }).WaitForAsync();
        await page.GetByLabel("a show is coming up (reminder)").CheckAsync();
        await Eventually.EqualAsync(true, () => App.DataSource.ScalarAsync<bool>(
            "select p.notify_reminder and not p.notify_confirmation and not p.notify_show_changes and p.verified_at is not null " +
            "from customer_phone p join app_user u using (app_user_id) where u.email = $1 and p.phone_number = $2", email, number));
    }

    [Fact]
    public async Task A_password_customer_links_the_provider_from_the_account_area()
    {
        await using var visitor = await fixture.NewPageAsync();
        var page = visitor.Page;
        await page.GotoAsync(Page(""));
        await page.GetByRole(AriaRole.Button, new() { Name = "Register demo user" }).ClickAsync();
        await page.Locator(".identities li.muted", new() { HasText = "None" }).WaitForAsync();
        var account = await page.Locator("#account span").TextContentAsync();
        var email = account!["Signed in as ".Length..];

        // Linking goes through the provider (as somebody with another email: the person proved both).
        await page.GetByRole(AriaRole.Button, new() { Name = "Link Local" }).ClickAsync();
        await page.GetByLabel("Email", new() { Exact = true }).FillAsync($"other-{Guid.NewGuid():N}@example.com");
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in", Exact = true }).ClickAsync();

        // Back on the customer page as the same account, now with the provider linked.
        await page.Locator(".identity[data-provider='local']").WaitForAsync();
        Assert.Equal(account, await page.Locator("#account span").TextContentAsync());
        Assert.Equal(0, await page.GetByRole(AriaRole.Button, new() { Name = "Link Local" }).CountAsync());
        Assert.Equal(1L, await App.DataSource.ScalarAsync<long>(
            "select count(*) from external_identity i join app_user u using (app_user_id) where u.email = $1 and i.provider = 'local'", email));
    }

    /// <summary>The six digits of the verification text sent to <paramref name="number"/>, once it is in the pickup folder; else null.</summary>
    private string? CodeSentTo(string number)
    {
        if (!Directory.Exists(fixture.SmsFolder))
        {
            return null;
        }

        var text = Directory.EnumerateFiles(fixture.SmsFolder, "*.txt").Select(File.ReadAllText)
            .FirstOrDefault(t => t.Contains($"To: {number}", StringComparison.Ordinal) && t.Contains("Holdfast code", StringComparison.Ordinal));
        return text is null ? null : System.Text.RegularExpressions.Regex.Match(text, @"\b[0-9]{6}\b").Value;
    }

    [Fact]
    public async Task A_refused_sign_in_is_explained_on_the_signed_in_page()
    {
        var email = await App.RegisterAsync("a long enough password");
        await using var visitor = await fixture.NewPageAsync();
        var page = visitor.Page;
        await page.GotoAsync(Page(""));

        await SignInAtTheProviderAsync(page, email, "Somebody Else");

        var problem = page.Locator("#auth-error .problem");
        await problem.WaitForAsync();
        Assert.Contains("An account with this email exists: sign in with your password, then link this provider.", await problem.TextContentAsync(), StringComparison.Ordinal);
        Assert.Contains("POST /auth/external/{provider}/link", await problem.TextContentAsync(), StringComparison.Ordinal);
        // The error left the address bar too.
        Assert.Equal(Page("signed-in.html"), page.Url);
        Assert.Equal(0L, await App.DataSource.ScalarAsync<long>("select count(*) from external_identity i join app_user u using (app_user_id) where u.email = $1", email));
    }
}

using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Holdfast.Infrastructure.SeatFeed;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.Mvc.Testing.Handlers;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Holdfast.Tests.Infrastructure;

/// <summary>
/// The real app over its own fresh database, hosted in-process (real Kestrel-less TestServer, real
/// PostgreSQL, real background workers). Settings can be overridden per test class.
/// </summary>
public sealed class TestApp : WebApplicationFactory<Program>
{
    private readonly Dictionary<string, string?> settings;
    private readonly Lazy<ContractValidator> contract;

    private TestApp(string connectionString, Dictionary<string, string?> settings)
    {
        ConnectionString = connectionString;
        this.settings = settings;
        DataSource = NpgsqlDataSource.Create(connectionString);
        contract = new(() =>
        {
            using var raw = CreateDefaultClient();
            var document = JsonNode.Parse(raw.GetStringAsync("/openapi/v1.json").GetAwaiter().GetResult())!.AsObject();
            return new ContractValidator(document);
        });
    }

    /// <summary>
    /// A client of this app whose every response is checked against the app's OpenAPI document
    /// (<see cref="ContractValidatingHandler"/>), with redirects followed and cookies kept as
    /// <see cref="WebApplicationFactory{TEntryPoint}.CreateClient()"/> does.
    /// </summary>
    public new HttpClient CreateClient() =>
        CreateDefaultClient(Address ?? new Uri("http://localhost"), new RedirectHandler(), new CookieContainerHandler(), new ContractValidatingHandler(() => contract.Value));

    /// <summary>
    /// A client of this app that acts as a browser does in a redirect dance: it keeps cookies in
    /// <paramref name="cookies"/> (shared with a client of another site) and does not follow
    /// redirects, so a test can follow each one itself. Responses are checked against the contract.
    /// </summary>
    public HttpClient CreateBrowserClient(System.Net.CookieContainer cookies) =>
        CreateDefaultClient(new Uri("http://localhost"), new CookieContainerHandler(cookies), new ContractValidatingHandler(() => contract.Value));

    public string ConnectionString { get; }

    /// <summary>A data source on the same database, for arranging and asserting in SQL.</summary>
    public NpgsqlDataSource DataSource { get; }

    /// <summary>
    /// Where a real client reaches the app (<c>http://127.0.0.1:port</c>) when it was started with
    /// <c>onLoopbackPort</c>; null for the in-process test server, which only <see cref="CreateClient"/> reaches.
    /// </summary>
    public Uri? Address { get; private set; }

    /// <summary>
    /// Starts an app on a fresh database, or, with <paramref name="connectionString"/>, as another node on an existing one.
    /// With <paramref name="onLoopbackPort"/> the app runs on Kestrel on a free port of 127.0.0.1
    /// (<see cref="Address"/>), so a browser or another process can reach it: on <paramref name="port"/>
    /// when a test must name its address in the settings beforehand, else on a free one.
    /// </summary>
    public static async Task<TestApp> StartAsync(
        PostgresServer server, IDictionary<string, string?>? overrides = null, string? connectionString = null, bool onLoopbackPort = false, int port = 0)
    {
        var settings = DefaultSettings();
        foreach (var (key, value) in overrides ?? new Dictionary<string, string?>())
        {
            settings[key] = value;
        }

        var app = new TestApp(connectionString ?? await server.CreateDatabaseAsync(), settings);
        settings["ConnectionStrings:Holdfast"] = app.ConnectionString;
        if (onLoopbackPort)
        {
            app.UseKestrel(kestrel => kestrel.Listen(System.Net.IPAddress.Loopback, port));
            app.StartServer();
            var addresses = app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>().Features
                .Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()!.Addresses;
            app.Address = new Uri(addresses.Single());
        }
        else
        {
            _ = app.Server; // start the host now
        }

        await app.Services.GetRequiredService<SeatFeedHub>().Listening.WaitAsync(TimeSpan.FromSeconds(30));
        return app;
    }

    /// <summary>The settings every test node runs with (configuration keys, <c>Section:Key</c>).</summary>
    public static Dictionary<string, string?> DefaultSettings() => new()
    {
        ["Database:MigrateOnStartup"] = "false",
        ["Jobs:PollIntervalMilliseconds"] = "100",
        // The seat feed's poll is a safety net; with it out of reach, a writer that forgets to
        // announce its change fails its SSE test instead of passing a second late.
        ["SeatFeed:PollMilliseconds"] = "3600000",
        ["Logging:LogLevel:Default"] = "Warning",
        // A stopping test node stops at once; GracefulShutdownTests sets a real drain.
        ["Server:DrainSeconds"] = "0",
        ["Email:PickupDirectory"] = Path.Combine(Path.GetTempPath(), "holdfast-test-mail"),
        ["WebPush:KeyFile"] = Path.Combine(Path.GetTempPath(), $"holdfast-test-vapid-{Environment.ProcessId}.json"),
        // Tests register hundreds of customers from one address; RateLimitTests sets real limits.
        ["RateLimits:AuthPerMinute"] = "1000000",
        ["RateLimits:HoldBurst"] = "1000000",
        ["RateLimits:HoldsPerSecond"] = "1000000",
    };

    /// <summary>
    /// Settings for tests of cache invalidation: entries live ten minutes instead of ten seconds, so
    /// a change reaches a cached read within <see cref="InvalidationDeadline"/> only when an
    /// invalidation drops the entry, never because the entry expired while the test waited.
    /// </summary>
    public static Dictionary<string, string?> LongLivedCache() => new() { ["Cache:LifetimeMilliseconds"] = "600000" };

    /// <summary>
    /// How long a cache-invalidation test waits for a change to show: as long as other waits on a busy
    /// machine, and sixty times shorter than the lifetime of <see cref="LongLivedCache"/>.
    /// </summary>
    public static TimeSpan InvalidationDeadline { get; } = TimeSpan.FromSeconds(10);

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Development");
        builder.ConfigureAppConfiguration(config => config.AddInMemoryCollection(settings));
    }

    /// <summary>Registers a new customer and returns a client carrying its bearer token, and its user id.</summary>
    public async Task<(HttpClient Client, long UserId)> CustomerAsync(string? email = null)
    {
        var client = CreateClient();
        email ??= $"c{Guid.NewGuid():N}@example.com";
        var response = await client.PostAsJsonAsync("/auth/register", new { email, password = "correct horse battery" });
        response.EnsureSuccessStatusCode();
        var body = await response.Content.ReadFromJsonAsync<JsonObject>();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", body!["access_token"]!.GetValue<string>());
        return (client, body["user_id"]!.GetValue<long>());
    }

    /// <summary>
    /// Registers an account through the API with <paramref name="password"/> and returns its email;
    /// with <paramref name="role"/>, then gives it that role in SQL (tokens issued later carry it).
    /// </summary>
    public async Task<string> RegisterAsync(string password, string? role = null)
    {
        using var client = CreateClient();
        var email = $"r{Guid.NewGuid():N}@example.com";
        var registered = await client.PostAsJsonAsync("/auth/register", new { email, password }).ExpectAsync(System.Net.HttpStatusCode.Created);
        if (role is not null)
        {
            Assert.Equal(1, await DataSource.ScalarAsync<int>(
                "with changed as (update app_user set role = $1 where app_user_id = $2 returning 1) select count(*)::int from changed", role, registered["user_id"]!.GetValue<long>()));
        }

        return email;
    }

    /// <summary>Logs in through the API; returns a client carrying the new access token, and the token response.</summary>
    public async Task<(HttpClient Client, JsonObject Tokens)> LoginAsync(string email, string password)
    {
        var client = CreateClient();
        var tokens = await client.PostAsJsonAsync("/auth/login", new { email, password }).ExpectAsync(System.Net.HttpStatusCode.OK);
        client.DefaultRequestHeaders.Authorization = new("Bearer", tokens["access_token"]!.GetValue<string>());
        return (client, tokens);
    }

    /// <summary>
    /// Creates an account with <paramref name="role"/> (admin, organizer, customer) directly in the
    /// database and returns a client carrying a bearer token for it, and its user id.
    /// </summary>
    public async Task<(HttpClient Client, long UserId)> AccountAsync(string role)
    {
        var email = $"{role}{Guid.NewGuid():N}@example.com";
        var id = await DataSource.ScalarAsync<long>("insert into app_user (email, display_name, role) values ($1, $2, $2) returning app_user_id", email, role);
        var client = CreateClient();
        client.DefaultRequestHeaders.Authorization = new("Bearer", Services.GetRequiredService<Holdfast.Infrastructure.Auth.TokenIssuer>().Issue(id, email, role, DateTimeOffset.UtcNow).AccessToken);
        return (client, id);
    }

    /// <summary>A new organizer account and a client carrying its token (<see cref="AccountAsync"/>).</summary>
    public Task<(HttpClient Client, long UserId)> OrganizerAsync() => AccountAsync(Holdfast.Infrastructure.Auth.Roles.Organizer);

    /// <summary>A new admin account and a client carrying its token (<see cref="AccountAsync"/>).</summary>
    public Task<(HttpClient Client, long UserId)> AdminAsync() => AccountAsync(Holdfast.Infrastructure.Auth.Roles.Admin);

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        await DataSource.DisposeAsync();
    }
}

/// <summary>Small helpers for reading JSON, problem details and tokens in assertions.</summary>
public static class Http
{
    public static async Task<JsonObject> ExpectAsync(this Task<HttpResponseMessage> send, System.Net.HttpStatusCode status)
    {
        using var response = await send;
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"Expected {(int)status}, got {(int)response.StatusCode}: {text}");
        return string.IsNullOrEmpty(text) ? new JsonObject() : JsonNode.Parse(text)!.AsObject();
    }

    /// <summary>The session id (<c>sid</c> claim) of the access token in a login or refresh response.</summary>
    public static string SessionOf(JsonObject tokens)
    {
        var payload = tokens["access_token"]!.GetValue<string>().Split('.')[1];
        var json = System.Text.Encoding.UTF8.GetString(Microsoft.AspNetCore.WebUtilities.WebEncoders.Base64UrlDecode(payload));
        return JsonNode.Parse(json)!["sid"]!.GetValue<string>();
    }

    public static string[] Strings(this JsonNode? node) => node!.AsArray().Select(n => n!.GetValue<string>()).ToArray();
}

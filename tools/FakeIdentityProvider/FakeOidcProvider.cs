using System.Collections.Concurrent;
using System.Net;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenIddict.Abstractions;
using OpenIddict.Server;
using static OpenIddict.Abstractions.OpenIddictConstants;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace Holdfast.FakeIdentityProvider;

/// <summary>How to start a <see cref="FakeOidcProvider"/>.</summary>
public sealed class FakeOidcProviderOptions
{
    /// <summary>Where to listen: an <c>http://</c> URL on a loopback address; port 0 (the default) picks a free port.</summary>
    public Uri Url { get; init; } = new("http://127.0.0.1:0");

    /// <summary>The one client the provider knows.</summary>
    public string ClientId { get; init; } = FakeOidcProvider.TestClientId;

    /// <summary>That client's secret (<c>client_secret_post</c> or <c>client_secret_basic</c>).</summary>
    public string ClientSecret { get; init; } = FakeOidcProvider.TestClientSecret;

    /// <summary>
    /// True: the authorization endpoint shows a sign-in form (email, display name, "email verified")
    /// and signs in whoever is typed there. False (tests): it signs in <see cref="FakeOidcProvider.NextUser"/> at once.
    /// </summary>
    public bool Interactive { get; init; }
}

/// <summary>
/// A real OpenID Connect provider (OpenIddict 7.8 server, degraded mode: no stores) on a loopback
/// Kestrel port, for development (<c>scripts/run.sh</c>, interactive) and for driving Holdfast's
/// external login over HTTP in tests (non-interactive): discovery, JWKS, an authorization endpoint
/// (OpenID Connect Core 1.0 §3.1.2) that signs in the user from its form or
/// <see cref="NextUser"/>, and a token endpoint (§3.1.3) that checks the client secret and the PKCE
/// verifier (RFC 7636, required) before issuing a signed ID token with the nonce.
/// Never for production: anybody can be anybody here.
/// </summary>
public sealed class FakeOidcProvider : IAsyncDisposable
{
    /// <summary>The client id the tests use.</summary>
    public const string TestClientId = "holdfast-test";

    /// <summary>The client secret the tests use.</summary>
    public const string TestClientSecret = "fake-provider-client-secret";

    /// <summary>The client id <c>scripts/run.sh</c> configures.</summary>
    public const string LocalClientId = "holdfast-local";

    /// <summary>The client secret <c>scripts/run.sh</c> configures (a local fake's, not a secret).</summary>
    public const string LocalClientSecret = "local-fake-provider-secret";

    /// <summary>Form fields of the interactive sign-in form; never OpenID Connect parameters.</summary>
    private const string EmailField = "fake_email", NameField = "fake_name", VerifiedField = "fake_email_verified", ActionField = "fake_action";

    private readonly WebApplication app;

    private FakeOidcProvider(WebApplication app, Uri issuer)
    {
        this.app = app;
        Issuer = issuer;
    }

    /// <summary>The provider's issuer, <c>http://127.0.0.1:port/</c>.</summary>
    public Uri Issuer { get; }

    /// <summary>Non-interactive mode: who "signs in" at the next authorization request; null to refuse it (<c>access_denied</c>).</summary>
    public FakeUser? NextUser { get; set; } = new("subject-0", "nobody@example.com", true);

    /// <summary>Every token request the provider received, as form fields (to check PKCE and the client secret were sent).</summary>
    public ConcurrentQueue<IDictionary<string, string?>> TokenRequests { get; } = new();

    /// <summary>A user at the provider.</summary>
    /// <param name="Subject">The <c>sub</c> claim: stable per user.</param>
    /// <param name="Email">The <c>email</c> claim, if any.</param>
    /// <param name="EmailVerified">The <c>email_verified</c> claim.</param>
    /// <param name="Name">The <c>name</c> claim, if any.</param>
    public sealed record FakeUser(string Subject, string? Email, bool EmailVerified, string? Name = null);

    /// <summary>The subject the interactive form gives an email: the same email is the same user every time.</summary>
    public static string SubjectOf(string email) =>
        "local-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(email.Trim().ToLowerInvariant())))[..24];

    /// <summary>A non-interactive provider for tests on a free loopback port, with the test client.</summary>
    public static Task<FakeOidcProvider> StartAsync() => StartAsync(new FakeOidcProviderOptions());

    /// <summary>Starts the provider; it listens until disposed.</summary>
    public static async Task<FakeOidcProvider> StartAsync(FakeOidcProviderOptions settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        FakeOidcProvider? self = null;
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { EnvironmentName = "Development" });
        builder.WebHost.UseKestrel(kestrel => kestrel.Listen(IPAddress.Parse(settings.Url.Host), settings.Url.Port));
        // Warnings only: OpenIddict's information logs would show requests, codes and tokens.
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddOpenIddict().AddServer(options =>
        {
            options.SetAuthorizationEndpointUris("connect/authorize").SetTokenEndpointUris("connect/token");
            options.AllowAuthorizationCodeFlow().RequireProofKeyForCodeExchange();
            options.RegisterScopes(Scopes.Email, Scopes.Profile);
            options.AddEphemeralEncryptionKey().AddEphemeralSigningKey().DisableAccessTokenEncryption();
            options.EnableDegradedMode().DisableTokenStorage().DisableAuthorizationStorage();
            options.UseAspNetCore().DisableTransportSecurityRequirement();

            // Degraded mode leaves the client checks to us: one client, one secret, callbacks of Holdfast's shape.
            options.AddEventHandler<ValidateAuthorizationRequestContext>(handler => handler.UseInlineHandler(context =>
            {
                if (context.ClientId != settings.ClientId)
                {
                    context.Reject(Errors.InvalidClient, "Unknown client.");
                }
                else if (context.RedirectUri is null || !context.RedirectUri.Contains("/auth/external/", StringComparison.Ordinal))
                {
                    context.Reject(Errors.InvalidRequest, "Unexpected redirect_uri.");
                }

                return default;
            }));
            options.AddEventHandler<ValidateTokenRequestContext>(handler => handler.UseInlineHandler(context =>
            {
                self!.TokenRequests.Enqueue(context.Request.GetParameters().ToDictionary(p => p.Key, p => (string?)p.Value));
                if (context.ClientId != settings.ClientId || context.Request.ClientSecret != settings.ClientSecret)
                {
                    context.Reject(Errors.InvalidClient, "Wrong client credentials.");
                }

                return default;
            }));
            options.AddEventHandler<HandleAuthorizationRequestContext>(handler => handler.UseInlineHandler(async context =>
            {
                FakeUser? user;
                if (settings.Interactive)
                {
                    var http = context.Transaction.GetHttpRequest()!.HttpContext;
                    var action = (string?)context.Request[ActionField];
                    if (!HttpMethods.IsPost(http.Request.Method) || action is null)
                    {
                        await WriteFormAsync(http, context.Request, null);
                        context.HandleRequest();
                        return;
                    }

                    var email = ((string?)context.Request[EmailField])?.Trim();
                    var name = ((string?)context.Request[NameField])?.Trim();
                    if (action == "sign_in" && string.IsNullOrEmpty(email))
                    {
                        await WriteFormAsync(http, context.Request, "Type an email.");
                        context.HandleRequest();
                        return;
                    }

                    user = action == "sign_in"
                        ? new FakeUser(SubjectOf(email!), email, (string?)context.Request[VerifiedField] == "true", string.IsNullOrEmpty(name) ? null : name)
                        : null;
                }
                else
                {
                    user = self!.NextUser;
                }

                if (user is null)
                {
                    context.Reject(Errors.AccessDenied, "The user said no.");
                    return;
                }

                context.SignIn(PrincipalOf(user, context.Request.GetScopes()));
            }));
        });
        var app = builder.Build();
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        self = new FakeOidcProvider(app, new Uri(address.TrimEnd('/') + "/"));
        return self;
    }

    private static ClaimsPrincipal PrincipalOf(FakeUser user, IEnumerable<string> scopes)
    {
        var identity = new ClaimsIdentity("fake-provider", Claims.Name, Claims.Role);
        identity.SetClaim(Claims.Subject, user.Subject);
        if (user.Email is not null)
        {
            identity.SetClaim(Claims.Email, user.Email);
            identity.AddClaim(new Claim(Claims.EmailVerified, user.EmailVerified ? "true" : "false", ClaimValueTypes.Boolean));
        }

        if (user.Name is not null)
        {
            identity.SetClaim(Claims.Name, user.Name);
        }

        identity.SetDestinations(_ => [Destinations.IdentityToken, Destinations.AccessToken]);
        var principal = new ClaimsPrincipal(identity);
        principal.SetScopes(scopes);
        return principal;
    }

    /// <summary>
    /// The sign-in form: posts the authorization request's own parameters back to the same endpoint
    /// (OpenIddict reads a POSTed authorization request like a GET), with the user's fields beside them.
    /// </summary>
    private static async Task WriteFormAsync(HttpContext http, OpenIddictRequest request, string? error)
    {
        var response = http.Response;
        static string E(string? text) => WebUtility.HtmlEncode(text ?? "");
        var hidden = new StringBuilder();
        foreach (var (key, value) in request.GetParameters())
        {
            if (!key.StartsWith("fake_", StringComparison.Ordinal))
            {
                hidden.Append(System.Globalization.CultureInfo.InvariantCulture, $"""<input type="hidden" name="{E(key)}" value="{E((string?)value)}">""").Append('\n');
            }
        }

        var email = E((string?)request[EmailField]);
        var name = E((string?)request[NameField]);
        var message = error is null ? "" : $"""<p class="error" role="alert">{E(error)}</p>""";
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/html; charset=utf-8";
        response.Headers.CacheControl = "no-store";
        await response.WriteAsync($$"""
            <!doctype html>
            <html lang="en">
            <head>
              <meta charset="utf-8">
              <meta name="viewport" content="width=device-width, initial-scale=1">
              <title>Local identity provider — sign in</title>
              <style>
                body { font: 16px system-ui, sans-serif; max-width: 26rem; margin: 3rem auto; padding: 0 1rem; color: #1f2937; }
                label { display: block; margin: .8rem 0; } input[type=email], input[type=text] { display: block; width: 100%; padding: .4rem; }
                .note { color: #6b7280; font-size: .9rem; } .error { color: #b91c1c; } button { padding: .5rem 1rem; margin-right: .5rem; }
              </style>
            </head>
            <body>
              <h1>Local identity provider</h1>
              <p class="note">A fake OpenID Connect provider for development: whoever you type here is who you are. Client: {{E(request.ClientId)}}.</p>
              {{message}}
              <form method="post" action="{{E(http.Request.PathBase + http.Request.Path)}}">
            {{hidden}}    <label>Email <input name="{{EmailField}}" type="email" value="{{email}}" placeholder="ada@example.com" autofocus></label>
                <label>Display name <input name="{{NameField}}" type="text" value="{{name}}" placeholder="Ada Lovelace" maxlength="100"></label>
                <label><input name="{{VerifiedField}}" type="checkbox" value="true" checked> Email verified</label>
                <button type="submit" name="{{ActionField}}" value="sign_in">Sign in</button>
                <button type="submit" name="{{ActionField}}" value="cancel" formnovalidate>Cancel</button>
              </form>
            </body>
            </html>
            """);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await app.DisposeAsync();
    }
}

using System.Collections.Concurrent;
using System.Net;
using System.Security.Claims;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenIddict.Abstractions;
using static OpenIddict.Abstractions.OpenIddictConstants;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace Holdfast.Tests.Infrastructure;

/// <summary>
/// A real OpenID Connect provider (OpenIddict 7.8 server, degraded mode: no stores) on a loopback
/// Kestrel port, for driving Holdfast's external login over HTTP: discovery, JWKS, an authorization
/// endpoint that signs in <see cref="NextUser"/> at once (no login page), and a token endpoint that
/// checks the client secret and the PKCE verifier (required) before issuing a signed ID token with
/// the nonce.
/// </summary>
public sealed class FakeOidcProvider : IAsyncDisposable
{
    public const string ClientId = "holdfast-test";
    public const string ClientSecret = "fake-provider-client-secret";

    private readonly WebApplication app;

    private FakeOidcProvider(WebApplication app, Uri issuer)
    {
        this.app = app;
        Issuer = issuer;
    }

    /// <summary>The provider's issuer, <c>http://127.0.0.1:port/</c>.</summary>
    public Uri Issuer { get; }

    /// <summary>Who "signs in" at the next authorization request; null to refuse it (<c>access_denied</c>).</summary>
    public FakeUser? NextUser { get; set; } = new("subject-0", "nobody@example.com", true);

    /// <summary>Every token request the provider received, as form fields (to check PKCE and the client secret were sent).</summary>
    public ConcurrentQueue<IDictionary<string, string?>> TokenRequests { get; } = new();

    /// <summary>A user at the provider.</summary>
    public sealed record FakeUser(string Subject, string? Email, bool EmailVerified, string? Name = null);

    public static async Task<FakeOidcProvider> StartAsync()
    {
        FakeOidcProvider? self = null;
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { EnvironmentName = "Development" });
        builder.WebHost.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
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
                if (context.ClientId != ClientId)
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
                if (context.ClientId != ClientId || context.Request.ClientSecret != ClientSecret)
                {
                    context.Reject(Errors.InvalidClient, "Wrong client credentials.");
                }

                return default;
            }));
            options.AddEventHandler<HandleAuthorizationRequestContext>(handler => handler.UseInlineHandler(context =>
            {
                if (self!.NextUser is not { } user)
                {
                    context.Reject(Errors.AccessDenied, "The user said no.");
                    return default;
                }

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
                principal.SetScopes(context.Request.GetScopes());
                context.SignIn(principal);
                return default;
            }));
        });
        var app = builder.Build();
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        self = new FakeOidcProvider(app, new Uri(address.TrimEnd('/') + "/"));
        return self;
    }

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await app.DisposeAsync();
    }
}

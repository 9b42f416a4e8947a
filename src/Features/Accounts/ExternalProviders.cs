using System.ComponentModel.DataAnnotations;
using System.Text.RegularExpressions;
using Holdfast.Infrastructure;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.OpenIdConnect;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;

namespace Holdfast.Features.Accounts;

/// <summary>Settings under <c>ExternalLogin</c> in configuration (docs/decisions/0027-external-login.md).</summary>
public sealed partial class ExternalLoginOptions : IValidatableObject
{
    /// <summary>The OpenID Connect providers customers may sign in with; none by default.</summary>
    public List<ExternalProvider> Providers { get; set; } = [];

    /// <summary>
    /// Where a sign-in may send the browser back to with its one-time code: absolute URIs, compared
    /// exactly (OAuth 2.0 Security BCP, RFC 9700 §4.1.3). None by default.
    /// </summary>
    public string[] RedirectUris { get; set; } = [];

    /// <summary>Lifetime of the one-time code handed to the client, in seconds (default 60).</summary>
    [Range(10, 600)]
    public int CodeSeconds { get; set; } = 60;

    /// <summary>Lifetime of a link ticket from <c>POST /auth/external/{provider}/link</c>, in seconds (default 600).</summary>
    [Range(30, 3600)]
    public int LinkTicketSeconds { get; set; } = 600;

    /// <summary>The provider named <paramref name="name"/> (case-sensitive), or null.</summary>
    public ExternalProvider? Find(string? name) => Providers.FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.Ordinal));

    /// <summary>True when <paramref name="uri"/> is one of <see cref="RedirectUris"/>, character for character.</summary>
    public bool Allows(string? uri) => uri is not null && RedirectUris.Contains(uri, StringComparer.Ordinal);

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var provider in Providers)
        {
            if (provider.Name is null || !ProviderName().IsMatch(provider.Name) || !seen.Add(provider.Name))
            {
                yield return new ValidationResult($"each provider needs a unique Name of 1 to 50 lowercase letters, digits or hyphens ('{provider.Name}').", [nameof(Providers)]);
            }

            if (!Uri.TryCreate(provider.Authority, UriKind.Absolute, out _))
            {
                yield return new ValidationResult($"provider '{provider.Name}' needs an absolute Authority (its issuer URL).", [nameof(Providers)]);
            }

            if (provider.DisplayName is { Length: > 50 })
            {
                yield return new ValidationResult($"provider '{provider.Name}' has a DisplayName longer than 50 characters.", [nameof(Providers)]);
            }

            if (string.IsNullOrWhiteSpace(provider.ClientId))
            {
                yield return new ValidationResult($"provider '{provider.Name}' needs a ClientId.", [nameof(Providers)]);
            }
        }

        foreach (var uri in RedirectUris)
        {
            if (!Uri.TryCreate(uri, UriKind.Absolute, out var parsed) || parsed.Fragment.Length > 0)
            {
                yield return new ValidationResult($"'{uri}' is not an absolute URI without a fragment.", [nameof(RedirectUris)]);
            }
        }
    }

    [GeneratedRegex("^[a-z0-9-]{1,50}$")]
    private static partial Regex ProviderName();
}

/// <summary>One OpenID Connect provider (Google, Microsoft Entra ID, a company's Keycloak, …).</summary>
public sealed class ExternalProvider
{
    /// <summary>The name in URLs and in <c>external_identity.provider</c>, e.g. <c>google</c>: 1–50 of a–z, 0–9 and hyphen. Never rename one that has identities.</summary>
    public string Name { get; set; } = "";

    /// <summary>
    /// What the sign-in button says after "Sign in with", e.g. <c>Google</c>; optional, default the
    /// <see cref="Name"/> with its first letter capitalised (<see cref="ShownName"/>). At most 50 characters.
    /// </summary>
    public string? DisplayName { get; set; }

    /// <summary><see cref="DisplayName"/>, or the <see cref="Name"/> capitalised (<c>local</c> → <c>Local</c>).</summary>
    public string ShownName => string.IsNullOrWhiteSpace(DisplayName)
        ? Name.Length == 0 ? Name : char.ToUpperInvariant(Name[0]) + Name[1..]
        : DisplayName.Trim();

    /// <summary>The issuer URL; its <c>/.well-known/openid-configuration</c> is read (OpenID Connect Discovery 1.0), e.g. <c>https://accounts.google.com</c>.</summary>
    public string Authority { get; set; } = "";

    /// <summary>The client id registered at the provider.</summary>
    public string ClientId { get; set; } = "";

    /// <summary>The client secret registered at the provider (sent in the token request's body, <c>client_secret_post</c>). Never logged.</summary>
    public string? ClientSecret { get; set; }

    /// <summary>Scopes asked for (default <c>openid email profile</c>); <c>openid</c> and <c>email</c> are needed.</summary>
    public string[] Scopes { get; set; } = ["openid", "email", "profile"];

    /// <summary>False only for a provider on plain HTTP on loopback (local fakes and tests); default true.</summary>
    public bool RequireHttpsMetadata { get; set; } = true;
}

/// <summary>
/// Registers one OpenID Connect authentication scheme (<c>oidc-{name}</c>) per configured provider,
/// from configuration as it stands when the options are first read (so a test host's settings
/// count), each with its own callback path <c>/auth/external/{name}/callback</c>.
/// </summary>
public sealed class ExternalProviderServices : IConfigureServices
{
    /// <summary>The authentication scheme of provider <paramref name="name"/>.</summary>
    public static string SchemeOf(string name) => "oidc-" + name;

    /// <summary>Where a sign-in with provider <paramref name="name"/> starts: <c>/auth/external/{name}</c> (add <c>?redirect_uri=</c>).</summary>
    public static string StartPathOf(string name) => $"/auth/external/{Uri.EscapeDataString(name)}";

    /// <summary>The callback path the provider redirects back to (register <c>{public base URL}{path}</c> at the provider).</summary>
    public static string CallbackPathOf(string name) => $"/auth/external/{name}/callback";

    /// <inheritdoc />
    public void ConfigureServices(IServiceCollection services, IConfiguration configuration)
    {
        services.AddSettings<ExternalLoginOptions>("ExternalLogin");
        services.AddScoped<ExternalLoginEvents>();
        services.AddTransient<OpenIdConnectHandler>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IPostConfigureOptions<OpenIdConnectOptions>, OpenIdConnectPostConfigureOptions>());
        services.AddOptions<AuthenticationOptions>().Configure<IOptions<ExternalLoginOptions>>((authentication, external) =>
        {
            foreach (var provider in external.Value.Providers)
            {
                authentication.AddScheme(SchemeOf(provider.Name), scheme => scheme.HandlerType = typeof(OpenIdConnectHandler));
            }
        });
        services.AddSingleton<IConfigureOptions<OpenIdConnectOptions>, ConfigureProvider>();
    }

    private sealed class ConfigureProvider(IOptions<ExternalLoginOptions> external) : IConfigureNamedOptions<OpenIdConnectOptions>
    {
        public void Configure(OpenIdConnectOptions options) => Configure(Options.DefaultName, options);

        public void Configure(string? name, OpenIdConnectOptions options)
        {
            var provider = external.Value.Providers.FirstOrDefault(p => name == SchemeOf(p.Name));
            if (provider is null)
            {
                return;
            }

            options.Authority = provider.Authority;
            options.ClientId = provider.ClientId;
            options.ClientSecret = provider.ClientSecret;
            options.RequireHttpsMetadata = provider.RequireHttpsMetadata;
            options.CallbackPath = CallbackPathOf(provider.Name);

            // Authorization code with PKCE (RFC 7636); the code comes back in the query, a top-level
            // GET, so the correlation and nonce cookies can be SameSite=Lax (form_post would be a
            // cross-site POST, which Lax cookies do not follow).
            options.ResponseType = OpenIdConnectResponseType.Code;
            options.ResponseMode = OpenIdConnectResponseMode.Query;
            options.UsePkce = true;
            options.Scope.Clear();
            foreach (var scope in provider.Scopes)
            {
                options.Scope.Add(scope);
            }

            // Claims keep their OpenID Connect names (sub, email, email_verified).
            options.MapInboundClaims = false;
            options.SaveTokens = false;
            options.GetClaimsFromUserInfoEndpoint = false;
            options.CorrelationCookie.SameSite = SameSiteMode.Lax;
            options.CorrelationCookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            options.NonceCookie.SameSite = SameSiteMode.Lax;
            options.NonceCookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            options.RemoteAuthenticationTimeout = TimeSpan.FromMinutes(15);
            options.EventsType = typeof(ExternalLoginEvents);
        }
    }
}

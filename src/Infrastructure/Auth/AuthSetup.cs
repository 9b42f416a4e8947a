using System.ComponentModel.DataAnnotations;
using System.Security.Claims;
using System.Text;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Holdfast.Infrastructure.Auth;

/// <summary>Settings under <c>Auth</c> in configuration.</summary>
public sealed class AuthOptions
{
    /// <summary>JWT <c>iss</c>.</summary>
    [Required]
    public string Issuer { get; set; } = "holdfast";

    /// <summary>JWT <c>aud</c>.</summary>
    [Required]
    public string Audience { get; set; } = "holdfast-api";

    /// <summary>HMAC-SHA256 signing key, at least 32 bytes of UTF-8. Required outside Development.</summary>
    public string? SigningKey { get; set; }

    /// <summary>Access-token lifetime in minutes (default 15).</summary>
    [Range(1, 1440)]
    public int AccessTokenMinutes { get; set; } = 15;

    /// <summary>
    /// Longest life, in seconds, of a node's memory that a session is live and an account has a role
    /// (default 60; 0 reads the database on every request). Entries are dropped at once when a
    /// session is revoked or a role changes; this only bounds the damage of a notification lost
    /// without the listening connection noticing (<see cref="SessionGate"/>).
    /// </summary>
    [Range(0, 3600)]
    public int SessionCacheSeconds { get; set; } = 60;
}

/// <summary>
/// The roles a Holdfast account can have (the <c>role</c> claim and <c>app_user.role</c>). Each is
/// also an authorization policy: <c>admin</c> admits admins, <c>organizer</c> organizers and admins.
/// </summary>
public static class Roles
{
    /// <summary>Manages everything, including other users' roles.</summary>
    public const string Admin = "admin";

    /// <summary>Owns venues, events and shows (a cinema chain, a coach company, an airline).</summary>
    public const string Organizer = "organizer";

    /// <summary>Searches, holds and books seats.</summary>
    public const string Customer = "customer";
}

/// <summary>Wires JWT bearer authentication and the token issuer.</summary>
public static class AuthSetup
{
    /// <summary>
    /// Development-only signing key, used when <c>Auth:SigningKey</c> is not configured and the
    /// environment is Development. Any other environment refuses to start without a real key.
    /// </summary>
    internal const string DevelopmentSigningKey = "holdfast-development-signing-key-not-for-production-use";

    /// <summary>
    /// Adds JWT bearer authentication (HS256, issuer, audience, lifetime validated; 30 s clock skew),
    /// authorization, <see cref="PasswordHasher{TUser}"/> and <see cref="TokenIssuer"/>. Settings are
    /// read when first needed, and validated at start-up: outside Development the app refuses to
    /// start without <c>Auth:SigningKey</c>, and any key must be at least 32 bytes.
    /// </summary>
    public static IServiceCollection AddHoldfastAuth(this IServiceCollection services)
    {
        services.AddSettings<AuthOptions>("Auth")
            .PostConfigure<IHostEnvironment>((options, environment) =>
            {
                if (string.IsNullOrEmpty(options.SigningKey) && environment.IsDevelopment())
                {
                    options.SigningKey = DevelopmentSigningKey;
                }
            })
            .Validate(o => !string.IsNullOrEmpty(o.SigningKey), "Auth:SigningKey is required outside Development (at least 32 bytes).")
            .Validate<IHostEnvironment>((o, environment) => environment.IsDevelopment() || o.SigningKey != DevelopmentSigningKey,
                "Auth:SigningKey is the development key, which is public; set a secret key outside Development.")
            .Validate(o => string.IsNullOrEmpty(o.SigningKey) || Encoding.UTF8.GetByteCount(o.SigningKey) >= 32, "Auth:SigningKey must be at least 32 bytes.");
        services.AddSingleton<TokenIssuer>();
        services.AddSingleton<SessionGate>();
        services.AddHostedService(sp => sp.GetRequiredService<SessionGate>());
        services.AddSingleton<LinkTokens>();
        services.AddSingleton<OneTimeCodes>();
        services.AddSingleton<IPasswordHasher<PasswordOwner>, PasswordHasher<PasswordOwner>>();

        services.AddAuthentication(JwtBearerDefaults.AuthenticationScheme).AddJwtBearer();
        services.AddOptions<JwtBearerOptions>(JwtBearerDefaults.AuthenticationScheme)
            .Configure<IOptions<AuthOptions>, SessionGate>((jwt, auth, gate) =>
            {
                jwt.MapInboundClaims = false;
                jwt.Events = new JwtBearerEvents
                {
                    // A signature says who the token was issued to; the database says whether that
                    // still holds: the session not revoked, the role unchanged (SessionGate).
                    OnTokenValidated = async context =>
                    {
                        var principal = context.Principal!;
                        if (!long.TryParse(principal.FindFirstValue(JwtRegisteredClaimNames.Sub), out var userId)
                            || !await gate.AdmitsAsync(userId, principal.SessionId(), principal.FindFirstValue("role"), context.HttpContext.RequestAborted))
                        {
                            context.Fail(new SessionEndedException());
                        }
                    },
                    // RFC 6750 §3: 401 with WWW-Authenticate: Bearer error="invalid_token" and a reason.
                    OnChallenge = context =>
                    {
                        if (context.AuthenticateFailure is SessionEndedException ended)
                        {
                            context.ErrorDescription = ended.Message;
                        }

                        return Task.CompletedTask;
                    },
                };
                jwt.TokenValidationParameters = new TokenValidationParameters
                {
                    ValidIssuer = auth.Value.Issuer,
                    ValidAudience = auth.Value.Audience,
                    IssuerSigningKey = SigningKey(auth.Value),
                    ValidAlgorithms = [SecurityAlgorithms.HmacSha256],
                    NameClaimType = JwtRegisteredClaimNames.Sub,
                    RoleClaimType = "role",
                    ClockSkew = TimeSpan.FromSeconds(30),
                };
            });
        services.AddAuthorizationBuilder()
            .AddPolicy(Roles.Admin, policy => policy.RequireRole(Roles.Admin))
            .AddPolicy(Roles.Organizer, policy => policy.RequireRole(Roles.Organizer, Roles.Admin));
        return services;
    }

    internal static SymmetricSecurityKey SigningKey(AuthOptions options) => new(Encoding.UTF8.GetBytes(options.SigningKey!));

    /// <summary>The session (refresh-token family) the access token was issued for (<c>sid</c> claim), if any.</summary>
    public static Guid? SessionId(this ClaimsPrincipal user) =>
        Guid.TryParse(user.FindFirstValue(JwtRegisteredClaimNames.Sid), out var sid) ? sid : null;

    /// <summary>True when the signed-in account is an admin.</summary>
    public static bool IsAdmin(this ClaimsPrincipal user) => user.IsInRole(Roles.Admin);

    /// <summary>The signed-in account's id (<c>sub</c> claim).</summary>
    /// <exception cref="InvalidOperationException">The principal is not authenticated.</exception>
    public static long UserId(this ClaimsPrincipal user) =>
        long.TryParse(user.FindFirstValue(JwtRegisteredClaimNames.Sub), out var id)
            ? id
            : throw new InvalidOperationException("No authenticated user.");
}

/// <summary>
/// Why a validly signed access token was refused: its session was revoked (logout, a revoked session,
/// refresh-token reuse, a password change, a role change) or the account's role is no longer the
/// token's.
/// </summary>
public sealed class SessionEndedException() : Exception("The session has ended or the account's role has changed; sign in again.");

/// <summary>The type argument of <see cref="PasswordHasher{TUser}"/>; the v3 hasher does not read it.</summary>
public sealed class PasswordOwner;

/// <summary>An access token and its lifetime.</summary>
/// <param name="AccessToken">Compact JWS (RFC 7519), HS256.</param>
/// <param name="ExpiresAt">UTC instant the token stops being accepted.</param>
public sealed record IssuedToken(string AccessToken, DateTimeOffset ExpiresAt);

/// <summary>Issues access tokens for signed-in accounts.</summary>
public sealed class TokenIssuer(IOptions<AuthOptions> authOptions)
{
    private readonly JsonWebTokenHandler handler = new();
    private readonly AuthOptions options = authOptions.Value;
    private readonly SymmetricSecurityKey key = AuthSetup.SigningKey(authOptions.Value);

    /// <summary>
    /// Issues a JWT with <c>sub</c>, <c>email</c>, <c>role</c>, <c>sid</c> (the session, when given),
    /// <c>iss</c>, <c>aud</c>, <c>iat</c>, <c>exp</c>.
    /// </summary>
    public IssuedToken Issue(long userId, string email, string role, DateTimeOffset now, Guid? sessionId = null)
    {
        var expires = now.AddMinutes(options.AccessTokenMinutes);
        var claims = new Dictionary<string, object>
        {
            [JwtRegisteredClaimNames.Sub] = userId.ToString(System.Globalization.CultureInfo.InvariantCulture),
            [JwtRegisteredClaimNames.Email] = email,
            ["role"] = role,
            [JwtRegisteredClaimNames.Jti] = Guid.NewGuid().ToString("N"),
        };
        if (sessionId is { } sid)
        {
            claims[JwtRegisteredClaimNames.Sid] = sid.ToString();
        }

        var token = handler.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = options.Issuer,
            Audience = options.Audience,
            IssuedAt = now.UtcDateTime,
            NotBefore = now.UtcDateTime,
            Expires = expires.UtcDateTime,
            SigningCredentials = new SigningCredentials(key, SecurityAlgorithms.HmacSha256),
            Claims = claims,
        });
        return new IssuedToken(token, expires);
    }

    /// <summary>
    /// A 5-minute token proving the password step of a two-factor login for <paramref name="userId"/>.
    /// Its audience is <c>{Audience}-mfa</c>, so the API never accepts it as an access token.
    /// </summary>
    public IssuedToken IssueMfaChallenge(long userId, DateTimeOffset now)
    {
        var expires = now.AddMinutes(5);
        var token = handler.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = options.Issuer,
            Audience = options.Audience + "-mfa",
            IssuedAt = now.UtcDateTime,
            NotBefore = now.UtcDateTime,
            Expires = expires.UtcDateTime,
            SigningCredentials = new SigningCredentials(key, SecurityAlgorithms.HmacSha256),
            Claims = new Dictionary<string, object>
            {
                [JwtRegisteredClaimNames.Sub] = userId.ToString(System.Globalization.CultureInfo.InvariantCulture),
            },
        });
        return new IssuedToken(token, expires);
    }

    /// <summary>The account a valid, unexpired MFA challenge token was issued for; null otherwise.</summary>
    public async Task<long?> ValidateMfaChallengeAsync(string? token)
    {
        if (string.IsNullOrEmpty(token))
        {
            return null;
        }

        var result = await handler.ValidateTokenAsync(token, new TokenValidationParameters
        {
            ValidIssuer = options.Issuer,
            ValidAudience = options.Audience + "-mfa",
            IssuerSigningKey = key,
            ValidAlgorithms = [SecurityAlgorithms.HmacSha256],
            ClockSkew = TimeSpan.FromSeconds(30),
        });
        return result.IsValid && result.Claims.TryGetValue(JwtRegisteredClaimNames.Sub, out var sub)
            && long.TryParse(sub as string, System.Globalization.CultureInfo.InvariantCulture, out var id) ? id : null;
    }
}

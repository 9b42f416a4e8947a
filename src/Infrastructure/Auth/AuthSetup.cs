using System.Security.Claims;
using System.Text;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Identity;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Holdfast.Infrastructure.Auth;

/// <summary>Settings under <c>Auth</c> in configuration.</summary>
public sealed class AuthOptions
{
    /// <summary>JWT <c>iss</c>.</summary>
    public string Issuer { get; set; } = "holdfast";

    /// <summary>JWT <c>aud</c>.</summary>
    public string Audience { get; set; } = "holdfast-api";

    /// <summary>HMAC-SHA256 signing key, at least 32 bytes of UTF-8. Required outside Development.</summary>
    public string? SigningKey { get; set; }

    /// <summary>Access-token lifetime in minutes (default 15).</summary>
    public int AccessTokenMinutes { get; set; } = 15;
}

/// <summary>The roles a Holdfast account can have (the <c>role</c> claim and <c>app_user.role</c>).</summary>
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
    /// authorization, <see cref="PasswordHasher{TUser}"/> and <see cref="TokenIssuer"/>.
    /// </summary>
    /// <exception cref="InvalidOperationException">No signing key outside Development, or a key shorter than 32 bytes.</exception>
    public static IServiceCollection AddHoldfastAuth(this IServiceCollection services, IConfiguration configuration, IHostEnvironment environment)
    {
        var options = configuration.GetSection("Auth").Get<AuthOptions>() ?? new AuthOptions();
        if (string.IsNullOrEmpty(options.SigningKey))
        {
            if (!environment.IsDevelopment())
            {
                throw new InvalidOperationException("Auth:SigningKey is required outside Development (at least 32 bytes).");
            }

            options.SigningKey = DevelopmentSigningKey;
        }

        if (Encoding.UTF8.GetByteCount(options.SigningKey) < 32)
        {
            throw new InvalidOperationException("Auth:SigningKey must be at least 32 bytes.");
        }

        var key = new SymmetricSecurityKey(Encoding.UTF8.GetBytes(options.SigningKey));
        services.AddSingleton(options);
        services.AddSingleton(new TokenIssuer(options, key));
        services.AddSingleton<IPasswordHasher<PasswordOwner>, PasswordHasher<PasswordOwner>>();

        services.AddAuthentication(JwtBearerDefaults.AuthenticationScheme)
            .AddJwtBearer(jwt =>
            {
                jwt.MapInboundClaims = false;
                jwt.TokenValidationParameters = new TokenValidationParameters
                {
                    ValidIssuer = options.Issuer,
                    ValidAudience = options.Audience,
                    IssuerSigningKey = key,
                    ValidAlgorithms = [SecurityAlgorithms.HmacSha256],
                    NameClaimType = JwtRegisteredClaimNames.Sub,
                    RoleClaimType = "role",
                    ClockSkew = TimeSpan.FromSeconds(30),
                };
            });
        services.AddAuthorization();
        return services;
    }

    /// <summary>The signed-in account's id (<c>sub</c> claim).</summary>
    /// <exception cref="InvalidOperationException">The principal is not authenticated.</exception>
    public static long UserId(this ClaimsPrincipal user) =>
        long.TryParse(user.FindFirstValue(JwtRegisteredClaimNames.Sub), out var id)
            ? id
            : throw new InvalidOperationException("No authenticated user.");
}

/// <summary>The type argument of <see cref="PasswordHasher{TUser}"/>; the v3 hasher does not read it.</summary>
public sealed class PasswordOwner;

/// <summary>An access token and its lifetime.</summary>
/// <param name="AccessToken">Compact JWS (RFC 7519), HS256.</param>
/// <param name="ExpiresAt">UTC instant the token stops being accepted.</param>
public sealed record IssuedToken(string AccessToken, DateTimeOffset ExpiresAt);

/// <summary>Issues access tokens for signed-in accounts.</summary>
public sealed class TokenIssuer(AuthOptions options, SymmetricSecurityKey key)
{
    private readonly JsonWebTokenHandler handler = new();

    /// <summary>Issues a JWT with <c>sub</c>, <c>email</c>, <c>role</c>, <c>iss</c>, <c>aud</c>, <c>iat</c>, <c>exp</c>.</summary>
    public IssuedToken Issue(long userId, string email, string role, DateTimeOffset now)
    {
        var expires = now.AddMinutes(options.AccessTokenMinutes);
        var token = handler.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = options.Issuer,
            Audience = options.Audience,
            IssuedAt = now.UtcDateTime,
            NotBefore = now.UtcDateTime,
            Expires = expires.UtcDateTime,
            SigningCredentials = new SigningCredentials(key, SecurityAlgorithms.HmacSha256),
            Claims = new Dictionary<string, object>
            {
                [JwtRegisteredClaimNames.Sub] = userId.ToString(System.Globalization.CultureInfo.InvariantCulture),
                [JwtRegisteredClaimNames.Email] = email,
                ["role"] = role,
                [JwtRegisteredClaimNames.Jti] = Guid.NewGuid().ToString("N"),
            },
        });
        return new IssuedToken(token, expires);
    }
}

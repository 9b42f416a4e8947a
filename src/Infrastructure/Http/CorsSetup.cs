namespace Holdfast.Infrastructure.Http;

/// <summary>Settings under <c>Cors</c> in configuration.</summary>
public sealed class CorsSettings
{
    /// <summary>
    /// Origins (scheme, host and port, e.g. <c>https://shop.example</c>) whose web pages may call
    /// the API from a browser. None by default: browsers then refuse cross-origin calls.
    /// </summary>
    public string[] Origins { get; set; } = [];

    /// <summary>How long a browser may cache a preflight answer, in seconds (default 600).</summary>
    public int PreflightMaxAgeSeconds { get; set; } = 600;
}

/// <summary>
/// CORS (the Fetch standard's CORS protocol) for web apps on other origins: the configured origins
/// get any method and header, and may read the headers a client needs (<c>Location</c>,
/// <c>ETag</c>, <c>Retry-After</c>, <c>Idempotent-Replayed</c>). No credentials: the API is
/// called with a bearer token, never a cookie.
/// </summary>
public static class CorsSetup
{
    /// <summary>Registers the default policy from <c>Cors:Origins</c>.</summary>
    public static IServiceCollection AddHoldfastCors(this IServiceCollection services, IConfiguration configuration)
    {
        services.Configure<CorsSettings>(configuration.GetSection("Cors"));
        services.AddCors();
        // Read when the options are first used, not at registration: configuration added later (a
        // test host's settings) counts too.
        services.AddOptions<Microsoft.AspNetCore.Cors.Infrastructure.CorsOptions>()
            .Configure<Microsoft.Extensions.Options.IOptions<CorsSettings>>((cors, settings) => cors.AddDefaultPolicy(policy => policy
                .WithOrigins(settings.Value.Origins)
                .AllowAnyMethod()
                .AllowAnyHeader()
                .WithExposedHeaders("Location", "ETag", "Retry-After", "Idempotent-Replayed")
                .SetPreflightMaxAge(TimeSpan.FromSeconds(settings.Value.PreflightMaxAgeSeconds))));
        return services;
    }
}

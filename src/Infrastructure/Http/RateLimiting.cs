using System.ComponentModel.DataAnnotations;
using System.Security.Claims;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;

namespace Holdfast.Infrastructure.Http;

/// <summary>Settings under <c>RateLimits</c> in configuration.</summary>
public sealed class RateLimitOptions
{
    /// <summary>Login, registration, refresh and 2FA requests per client IP per minute (sliding window, default 30).</summary>
    [Range(1, int.MaxValue, ErrorMessage = "{0} must be at least 1.")]
    public int AuthPerMinute { get; set; } = 30;

    /// <summary>Hold requests a customer may burst (token bucket size, default 20).</summary>
    [Range(1, int.MaxValue, ErrorMessage = "{0} must be at least 1.")]
    public int HoldBurst { get; set; } = 20;

    /// <summary>Hold tokens refilled per second per customer (default 5).</summary>
    [Range(1, int.MaxValue, ErrorMessage = "{0} must be at least 1.")]
    public int HoldsPerSecond { get; set; } = 5;

    /// <summary>Requests in flight at once across the node, long-lived streams excluded (default 1024).</summary>
    [Range(1, int.MaxValue, ErrorMessage = "{0} must be at least 1.")]
    public int GlobalConcurrency { get; set; } = 1024;
}

/// <summary>
/// ASP.NET Core rate limiting, partitioned so one noisy client cannot lock others out: auth
/// endpoints per client IP, holds per customer, plus a node-wide concurrency cap. Rejections are
/// 429 problem details with <c>Retry-After</c> (RFC 9110 §10.2.3) when the limiter knows it.
/// </summary>
public static class RateLimiting
{
    /// <summary>Policy for login, registration, refresh and the 2FA step.</summary>
    public const string Auth = "auth";

    /// <summary>Policy for taking holds.</summary>
    public const string Holds = "holds";

    private static readonly TimeSpan AuthWindow = TimeSpan.FromMinutes(1);
    private const int AuthSegments = 6;

    /// <summary>Registers the limiter and its policies.</summary>
    public static IServiceCollection AddHoldfastRateLimiting(this IServiceCollection services)
    {
        services.AddSettings<RateLimitOptions>("RateLimits");
        services.AddRateLimiter(limiter =>
        {
            limiter.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            limiter.OnRejected = WriteProblemAsync;
            limiter.AddPolicy(Auth, http => RateLimitPartition.GetSlidingWindowLimiter(ClientIp(http), _ => new SlidingWindowRateLimiterOptions
            {
                PermitLimit = Settings(http).AuthPerMinute,
                Window = AuthWindow,
                SegmentsPerWindow = AuthSegments,
                QueueLimit = 0,
            }));
            limiter.AddPolicy(Holds, http => RateLimitPartition.GetTokenBucketLimiter(
                CallerKey(http), _ => new TokenBucketRateLimiterOptions
                {
                    TokenLimit = Settings(http).HoldBurst,
                    TokensPerPeriod = Settings(http).HoldsPerSecond,
                    ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                    QueueLimit = 0,
                }));
            // Endpoints that hold their request open (the live seat-map stream) opt out with
            // DisableRateLimiting, which exempts them from this cap too.
            limiter.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(http =>
                RateLimitPartition.GetConcurrencyLimiter("node", _ => new ConcurrencyLimiterOptions
                {
                    PermitLimit = Settings(http).GlobalConcurrency,
                    QueueLimit = 0,
                }));
        });
        return services;
    }

    private static RateLimitOptions Settings(HttpContext http) => http.RequestServices.GetRequiredService<IOptions<RateLimitOptions>>().Value;

    private static string ClientIp(HttpContext http) => http.Connection.RemoteIpAddress?.ToString() ?? "unknown";

    /// <summary>
    /// Who is calling, for per-caller limits and idempotency keys: <c>user:{id}</c> for a signed-in
    /// account (the token's <c>sub</c>), otherwise <c>ip:{address}</c>.
    /// </summary>
    internal static string CallerKey(HttpContext http) =>
        http.User.FindFirstValue(JwtRegisteredClaimNames.Sub) is { } sub ? "user:" + sub : "ip:" + ClientIp(http);

    private static async ValueTask WriteProblemAsync(OnRejectedContext context, CancellationToken cancellationToken)
    {
        var http = context.HttpContext;
        // Token buckets say when the next token comes; a sliding window frees permits as each of its
        // segments (10 s here) slides out; a concurrency cap frees them as requests finish.
        var policy = http.GetEndpoint()?.Metadata.GetMetadata<EnableRateLimitingAttribute>()?.PolicyName;
        var retryAfter = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var known) ? known
            : policy == Auth ? AuthWindow / AuthSegments
            : TimeSpan.FromSeconds(1);
        var detail = $"Try again in {Problems.SetRetryAfter(http.Response, retryAfter)} s.";

        await http.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
        {
            HttpContext = http,
            ProblemDetails = new ProblemDetails
            {
                Status = StatusCodes.Status429TooManyRequests,
                Title = "Too many requests.",
                Detail = detail,
            },
        });
    }
}

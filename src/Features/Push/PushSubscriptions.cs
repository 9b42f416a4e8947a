using Carter;
using Holdfast.Features.Jobs;
using Holdfast.Infrastructure;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Holdfast.Infrastructure.Jobs;
using Holdfast.Infrastructure.WebPush;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.WebUtilities;
using Npgsql;

namespace Holdfast.Features.Push;

/// <summary>
/// Browser push subscriptions: <c>GET /push/vapid-public-key</c> for <c>pushManager.subscribe</c>,
/// <c>POST /push/subscriptions</c> with the <c>PushSubscription.toJSON()</c> object, and
/// <c>DELETE /push/subscriptions?endpoint=…</c>.
/// </summary>
public sealed class PushSubscriptions : ICarterModule
{
    /// <summary>The keys of a subscription, base64url as the browser gives them.</summary>
    public sealed record Keys(string? P256dh, string? Auth);

    /// <summary><c>PushSubscription.toJSON()</c>.</summary>
    public sealed record Subscription(string? Endpoint, Keys? Keys);

    /// <summary>The application server key.</summary>
    public sealed record VapidKey(string PublicKey);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app)
    {
        app.MapGet("/push/vapid-public-key", (WebPushSender sender) => TypedResults.Ok(new VapidKey(sender.PublicKey)))
            .WithTags("Push").WithSummary("The VAPID public key (base64url) for pushManager.subscribe");
        var push = app.MapGroup("/push").RequireAuthorization().WithTags("Push");
        push.MapPost("/subscriptions", SubscribeAsync).WithSummary("Subscribe this browser to my notifications")
            .WithDescription("201; 400 names a bad endpoint or key. Re-subscribing an endpoint moves it to the caller.");
        push.MapDelete("/subscriptions", UnsubscribeAsync).WithSummary("Unsubscribe a browser").WithDescription("204 (also when it was not subscribed).");
    }

    internal static async Task<Results<Created, ValidationProblem>> SubscribeAsync(
        Subscription request, HttpContext http, NpgsqlDataSource db, TimeProvider time, CancellationToken cancellationToken)
    {
        var validation = new Validation()
            .Require(Uri.TryCreate(request.Endpoint, UriKind.Absolute, out var endpoint) && endpoint.Scheme is "https" or "http" && request.Endpoint!.Length <= 2048,
                "endpoint", "Required: the subscription's https URL.");
        var p256dh = Decode(request.Keys?.P256dh);
        var auth = Decode(request.Keys?.Auth);
        validation
            .Require(p256dh is { Length: 65 } && p256dh[0] == 0x04, "keys.p256dh", "Required: an uncompressed P-256 point, base64url (65 octets).")
            .Require(auth is { Length: 16 }, "keys.auth", "Required: 16 octets, base64url.");
        if (!validation.IsValid)
        {
            return validation.Problem();
        }

        await using var command = db.CreateCommand(UpsertSql);
        command.With("user_id", http.User.UserId());
        command.With("endpoint", request.Endpoint!);
        command.With("p256dh", p256dh!);
        command.With("auth", auth!);
        command.With("now", time.GetUtcNow());
        await command.ExecuteNonQueryAsync(cancellationToken);
        return TypedResults.Created();
    }

    internal static async Task<NoContent> UnsubscribeAsync(string? endpoint, HttpContext http, NpgsqlDataSource db, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand("delete from push_subscription where endpoint = @endpoint and app_user_id = @user_id");
        command.With("endpoint", endpoint ?? "");
        command.With("user_id", http.User.UserId());
        await command.ExecuteNonQueryAsync(cancellationToken);
        return TypedResults.NoContent();
    }

    private static byte[]? Decode(string? base64Url)
    {
        try
        {
            return base64Url is null ? null : WebEncoders.Base64UrlDecode(base64Url);
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private const string UpsertSql = """
        insert into push_subscription (app_user_id, endpoint, p256dh, auth, created_at)
        values (@user_id, @endpoint, @p256dh, @auth, @now)
        on conflict (endpoint) do update set app_user_id = excluded.app_user_id, p256dh = excluded.p256dh, auth = excluded.auth
        """;
}

/// <summary>
/// The <c>push.send</c> job (<see cref="PushArgs"/>). One job per subscription, so a slow or dead
/// browser never holds up the others. A 404 or 410 deletes the subscription; 429, 5xx and network
/// failures retry; another 4xx, or a message longer than <see cref="WebPushSender.MaxPayloadLength"/>,
/// discards the job.
/// </summary>
public sealed class SendPush(NpgsqlDataSource db, WebPushSender sender) : JobHandler<PushArgs>
{
    /// <summary>
    /// SQL that enqueues one <see cref="PushArgs"/> job per subscription of <c>@user_id</c>, with
    /// <c>@title</c>, <c>@body</c>, <c>@url</c>, <c>@now</c> (TTL one day, urgency normal).
    /// </summary>
    public static readonly string EnqueueForUserSql = JobSql.Insert<PushArgs>("""
        select push_subscription_id, @title as title, @body as body, @url as url, 86400 as ttl_seconds, 'normal' as urgency,
               @now as run_at, @now as created_at
        from push_subscription where app_user_id = @user_id
        """, skipDuplicates: false);

    /// <inheritdoc />
    public override async Task HandleAsync(JobContext job, PushArgs args, CancellationToken cancellationToken)
    {
        var subscriptionId = args.PushSubscriptionId;
        await using var command = db.CreateCommand("select endpoint, p256dh, auth from push_subscription where push_subscription_id = @id");
        command.With("id", subscriptionId);
        string endpoint;
        byte[] p256dh, auth;
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            if (!await reader.ReadAsync(cancellationToken))
            {
                return; // unsubscribed meanwhile
            }

            (endpoint, p256dh, auth) = (reader.Get<string>("endpoint"), reader.Get<byte[]>("p256dh"), reader.Get<byte[]>("auth"));
        }

        var payload = new { title = args.Title, body = args.Body, url = args.Url };
        var outcome = await sender.SendAsync(new Uri(endpoint), p256dh, auth, payload, args.TtlSeconds, args.Urgency, cancellationToken);
        switch (outcome)
        {
            case PushOutcome.Gone:
                await using (var delete = db.CreateCommand("delete from push_subscription where push_subscription_id = @id"))
                {
                    delete.With("id", subscriptionId);
                    await delete.ExecuteNonQueryAsync(cancellationToken);
                }

                break;
            case PushOutcome.Retry:
                throw new HttpRequestException($"Push service for subscription {subscriptionId} asked to retry later.");
            case PushOutcome.Rejected:
                throw new PermanentJobException($"Push service refused the message for subscription {subscriptionId}.");
        }
    }
}

/// <summary>Registers the Web Push sender and its settings.</summary>
public sealed class PushServices : IConfigureServices
{
    /// <inheritdoc />
    public void ConfigureServices(IServiceCollection services, IConfiguration configuration)
    {
        services.AddSettings<WebPushOptions>("WebPush");
        services.AddSingleton<VapidKeys>();
        services.AddHttpClient(WebPushSender.HttpClientName);
        services.AddSingleton<WebPushSender>();
    }
}

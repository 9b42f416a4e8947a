using System.ComponentModel;
using System.Security.Claims;
using System.Security.Cryptography;
using Carter;
using Holdfast.Features.Jobs;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Holdfast.Infrastructure.Jobs;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.OpenIdConnect;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;
using Npgsql;
using FromQueryAttribute = Microsoft.AspNetCore.Mvc.FromQueryAttribute;

namespace Holdfast.Features.Accounts;

/// <summary>
/// External login with OpenID Connect (OpenID Connect Core 1.0, authorization code flow with PKCE,
/// RFC 7636), ending in Holdfast's own token pair (docs/decisions/0027-external-login.md):
/// <list type="number">
/// <item><c>GET /auth/external/{provider}?redirect_uri=…</c> sends the browser to the provider (302),
/// with <c>state</c>, <c>nonce</c> and a PKCE challenge, which the handler checks on the way back.</item>
/// <item>The provider sends it to <c>/auth/external/{provider}/callback</c>; the handler redeems the
/// code and validates the ID token, then <see cref="ExternalLoginEvents"/> finds, creates or links
/// the account and sends the browser to <c>redirect_uri?code=…</c> with a one-time code valid
/// <see cref="ExternalLoginOptions.CodeSeconds"/>.</item>
/// <item>The client exchanges the code at <c>POST /auth/external/token</c> for a token pair (or the
/// two-factor challenge), so no token ever travels in a URL.</item>
/// </list>
/// </summary>
public sealed class ExternalLogin : ICarterModule
{
    /// <summary>The one-time code from the redirect.</summary>
    public sealed record TokenRequest(string? Code);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app)
    {
        var external = app.MapGroup("/auth/external").WithTags("Accounts").RequireRateLimiting(RateLimiting.Auth);
        external.MapGet("/{provider}", StartAsync)
            .Produces(StatusCodes.Status302Found)
            .DeclaresProblem(StatusCodes.Status502BadGateway, "The provider's discovery document could not be read.")
            .WithSummary("Sign in with an identity provider")
            .WithDescription("A browser navigation, not an API call: 302 to the provider's authorization endpoint (code flow with PKCE, state and nonce). " +
                             "When the provider sends the browser back, Holdfast answers 302 to redirect_uri with ?code=… (one-time, short-lived): " +
                             "exchange it at POST /auth/external/token. 400 when redirect_uri is not allowed or the link ticket is not valid; 404 for an unknown provider; " +
                             "502 when the provider cannot be reached.");
        external.MapGet("/{provider}/callback", CallbackAsync)
            .Produces(StatusCodes.Status302Found)
            .WithSummary("Where the identity provider sends the browser back")
            .WithDescription("Register {public base URL}/auth/external/{provider}/callback at the provider. 302 to the redirect_uri given at the start with ?code=…, " +
                             "or, when the sign-in is refused, with ?error=…&error_description=… (RFC 6749 §4.1.2.1), error being one of: " +
                             "account_exists (an account with this email exists but is not linked: sign in to it and link at POST /auth/external/{provider}/link), " +
                             "email_not_verified (the provider did not verify the email), identity_linked_elsewhere, account_disabled, access_denied (the provider refused), " +
                             "sign_in_failed (nonce, PKCE or the provider's tokens did not check out), sign_in_raced. " +
                             "400 problem details when the state does not check out (unknown, forged or replayed callback: there is no trustworthy redirect_uri); " +
                             "404 for an unknown provider.");
        external.MapPost("/token", ExchangeAsync)
            .WithRequestExample(new { code = "the code from the redirect" })
            .DeclaresProblem(StatusCodes.Status401Unauthorized, "The code is unknown, expired or already used, or the account is disabled.")
            .WithSummary("Exchange an external login's one-time code for tokens")
            .WithDescription("200 with a token pair, or {mfa_required, mfa_token} when the account has two-factor authentication (finish at POST /auth/login/2fa). " +
                             "401 when the code is unknown, expired or already used.");
    }

    internal static async Task<Results<EmptyHttpResult, ProblemHttpResult>> StartAsync(
        string provider,
        [FromQuery(Name = "redirect_uri"), Description("Where to send the browser back with the one-time code; one of ExternalLogin:RedirectUris, exactly.")] string? redirectUri,
        [FromQuery(Name = "link_ticket"), Description("From POST /auth/external/{provider}/link: link the identity to the signed-in account instead of signing in.")] string? linkTicket,
        HttpContext http,
        NpgsqlDataSource db,
        IOptions<ExternalLoginOptions> options,
        TimeProvider time,
        ILogger<ExternalLogin> logger,
        CancellationToken cancellationToken)
    {
        if (options.Value.Find(provider) is null)
        {
            return Problems.NotFound("Provider");
        }

        if (!options.Value.Allows(redirectUri))
        {
            return Problems.Field("redirect_uri", "Must be one of the allowed redirect URIs (ExternalLogin:RedirectUris), exactly.");
        }

        var properties = new AuthenticationProperties { RedirectUri = "/" };
        properties.Items[RedirectUriItem] = redirectUri;
        if (linkTicket is not null)
        {
            var hash = Sessions.HashOf(linkTicket);
            await using var command = db.CreateCommand(SpendLinkTicketSql);
            command.With("grant_hash", hash ?? []);
            command.With("provider", provider);
            command.With("now", time.GetUtcNow());
            var userId = hash is null ? null : (long?)await command.ExecuteScalarAsync(cancellationToken);
            if (userId is null)
            {
                return Problems.Field("link_ticket", "Unknown, expired, already used, or for another provider; ask for a new one.");
            }

            properties.Items[LinkUserItem] = userId.Value.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        try
        {
            // The handler reads the provider's discovery document (cached after the first success),
            // then answers 302 with state, nonce and the PKCE challenge, setting their cookies.
            await http.ChallengeAsync(ExternalProviderServices.SchemeOf(provider), properties);
        }
        catch (InvalidOperationException ex) when (!http.Response.HasStarted)
        {
            logger.LogWarning("External sign-in with {Provider} could not start: {Reason}", provider, ex.Message);
            return Problems.BadGateway("Provider unreachable.", "The identity provider's configuration could not be read; try again later.");
        }

        return TypedResults.Empty;
    }

    // Reached only when no handler took the callback: the provider is not configured.
    internal static ProblemHttpResult CallbackAsync(string provider) => Problems.NotFound("Provider");

    internal static async Task<Results<Ok<TokenPair>, Ok<Login.MfaChallenge>, ValidationProblem, ProblemHttpResult>> ExchangeAsync(
        TokenRequest request, NpgsqlDataSource db, TokenIssuer tokens, IOptions<SessionOptions> sessions, TimeProvider time,
        CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(request.Code))
        {
            return new Validation().Add("code", "Required.").Problem();
        }

        var hash = Sessions.HashOf(request.Code);
        if (hash is null)
        {
            return Problems.Unauthorized("Code refused.", "The code is unknown, expired or already used; sign in again.");
        }

        var now = time.GetUtcNow();
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using var spend = new NpgsqlCommand(SpendCodeSql, connection).With("grant_hash", hash).With("now", now);
        await using var reader = await spend.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return Problems.Unauthorized("Code refused.", "The code is unknown, expired or already used; sign in again.");
        }

        var (userId, email, role, totp, disabled) = (reader.Get<long>("app_user_id"), reader.Get<string>("email"), reader.Get<string>("role"),
            reader.Get<bool>("totp_enabled"), reader.Get<bool>("disabled"));
        await reader.CloseAsync();
        if (disabled)
        {
            await transaction.CommitAsync(cancellationToken);
            return Problems.Unauthorized("This account is disabled.");
        }

        // Holdfast's own second factor applies to every way in (decision 0027).
        if (totp)
        {
            await transaction.CommitAsync(cancellationToken);
            var challenge = tokens.IssueMfaChallenge(userId, now);
            return TypedResults.Ok(new Login.MfaChallenge(true, challenge.AccessToken, challenge.ExpiresAt));
        }

        var pair = await Sessions.IssueAsync(connection, userId, email, role, Guid.NewGuid(), tokens, sessions.Value, now, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return TypedResults.Ok(pair);
    }

    /// <summary>The protected-state item holding the client's redirect URI.</summary>
    internal const string RedirectUriItem = "holdfast.redirect_uri";

    /// <summary>The protected-state item holding the account a link ticket was spent for.</summary>
    internal const string LinkUserItem = "holdfast.link_user_id";

    // A ticket is spent once, for the provider it was asked for; the account it names then rides in
    // the state, which the handler protects (Data Protection) and checks against its correlation cookie.
    private const string SpendLinkTicketSql = """
        update external_grant set used_at = @now
        where grant_hash = @grant_hash and purpose = 'link' and provider = @provider and used_at is null and expires_at > @now
        returning app_user_id
        """;

    // Spending and reading in one statement: of two concurrent exchanges of one code, the second
    // finds used_at set (it waits on the row lock and re-checks) and gets nothing.
    private const string SpendCodeSql = """
        with spent as (
          update external_grant set used_at = @now
          where grant_hash = @grant_hash and purpose = 'login' and used_at is null and expires_at > @now
          returning app_user_id
        )
        select u.app_user_id, u.email, u.role, u.totp_enabled_at is not null as totp_enabled, u.disabled_at is not null as disabled
        from spent s join app_user u on u.app_user_id = s.app_user_id
        """;
}

/// <summary>
/// What Holdfast does when an OpenID Connect handler has checked the provider's answer (state,
/// correlation cookie, PKCE code redemption, ID token signature, issuer, audience, lifetime and
/// nonce), or when any of that failed. Resolved per request (<c>OpenIdConnectOptions.EventsType</c>).
/// </summary>
public sealed class ExternalLoginEvents(
    NpgsqlDataSource db, IOptions<ExternalLoginOptions> options, JobOutbox outbox, TimeProvider time, ILogger<ExternalLoginEvents> logger)
    : OpenIdConnectEvents
{
    /// <summary>
    /// Finds the account for the identity (or links, or creates it), stores a one-time code and
    /// redirects to the client's redirect URI with it; or, refused, redirects there with
    /// <c>error</c> and <c>error_description</c> (decision 0029). Never signs in to a cookie:
    /// Holdfast's sessions are its token pairs.
    /// </summary>
    public override async Task TicketReceived(TicketReceivedContext context)
    {
        context.HandleResponse();
        var http = context.HttpContext;
        var provider = context.Scheme.Name["oidc-".Length..];
        var principal = context.Principal!;
        var subject = principal.FindFirstValue("sub");
        var email = principal.FindFirstValue("email")?.Trim();
        var verified = string.Equals(principal.FindFirstValue("email_verified"), "true", StringComparison.OrdinalIgnoreCase);
        var name = principal.FindFirstValue("name")?.Trim();
        var redirectUri = context.Properties?.Items.TryGetValue(ExternalLogin.RedirectUriItem, out var r) == true ? r : null;
        long? linkUserId = context.Properties?.Items.TryGetValue(ExternalLogin.LinkUserItem, out var l) == true && long.TryParse(l, out var id) ? id : null;
        if (string.IsNullOrEmpty(subject) || !options.Value.Allows(redirectUri))
        {
            await Problems.BadRequest("External sign-in failed.", "The provider's answer lacks a subject, or the sign-in was not started here.").ExecuteAsync(http);
            return;
        }

        var now = time.GetUtcNow();
        var cancellationToken = http.RequestAborted;
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        Outcome outcome;
        try
        {
            outcome = await ResolveAsync(connection, provider, subject, email, verified, name, linkUserId, now, cancellationToken);
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            // A concurrent first sign-in of the same identity or email got there first.
            outcome = Outcome.Refuse("sign_in_raced", "Another sign-in of this identity or email was completing at the same time; start again.");
        }

        if (outcome.Error is { } error)
        {
            // The state checked out (correlation cookie, nonce, PKCE), so this is the browser that
            // started here: its client learns why at its own redirect URI (RFC 6749 §4.1.2.1's shape).
            await transaction.RollbackAsync(cancellationToken);
            logger.LogInformation("External sign-in with {Provider} refused: {Error}", provider, error);
            http.Response.Redirect(ErrorRedirect(redirectUri!, error, outcome.Description!));
            return;
        }

        var code = RandomNumberGenerator.GetBytes(32);
        await using (var insert = new NpgsqlCommand(InsertCodeSql, connection))
        {
            insert.With("grant_hash", SHA256.HashData(code)).With("user_id", outcome.UserId).With("now", now)
                .With("expires_at", now.AddSeconds(options.Value.CodeSeconds));
            await insert.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        http.Response.Redirect(QueryHelpers.AddQueryString(redirectUri!, "code", WebEncoders.Base64UrlEncode(code)));
    }

    /// <summary>
    /// Wrong or missing state, a correlation cookie that is gone (a replayed callback): 400 problem
    /// details, never a stack trace. A nonce or PKCE mismatch, a provider that refused, an
    /// unreachable token endpoint (the state checked out): back to the client's redirect URI with
    /// <c>error</c>. The reason is logged (without tokens or secrets); the client gets a category.
    /// </summary>
    public override async Task RemoteFailure(RemoteFailureContext context)
    {
        context.HandleResponse();
        logger.LogWarning("External sign-in with {Provider} failed: {Reason}", context.Scheme.Name, context.Failure?.Message);
        var (error, detail) = context.Failure?.Message switch
        {
            { } m when m.Contains("Correlation", StringComparison.Ordinal) || m.Contains("state", StringComparison.OrdinalIgnoreCase) =>
                ((string?)null, "This sign-in attempt is unknown, expired or already completed (state); start again."),
            { } m when m.Contains("access_denied", StringComparison.Ordinal) || m.Contains("denied", StringComparison.OrdinalIgnoreCase) =>
                ("access_denied", "The provider refused the sign-in."),
            _ => ("sign_in_failed", "The provider's answer could not be accepted; start again."),
        };

        // Past the state and correlation checks, the browser is the one that started here: back to its
        // client with the error. A state that does not check out names no trustworthy redirect URI.
        var redirectUri = context.Properties?.Items.TryGetValue(ExternalLogin.RedirectUriItem, out var r) == true ? r : null;
        if (error is not null && options.Value.Allows(redirectUri))
        {
            context.Response.Redirect(ErrorRedirect(redirectUri!, error, detail));
            return;
        }

        await Problems.BadRequest("External sign-in failed.", detail).ExecuteAsync(context.HttpContext);
    }

    /// <summary>
    /// The client's redirect URI with <c>error</c> (a code from <see cref="ExternalLogin"/>'s description) and
    /// <c>error_description</c> (for people), as an OAuth 2.0 authorization error response (RFC 6749 §4.1.2.1).
    /// </summary>
    private static string ErrorRedirect(string redirectUri, string error, string description) =>
        QueryHelpers.AddQueryString(redirectUri, new Dictionary<string, string?> { ["error"] = error, ["error_description"] = description });

    private sealed record Outcome(long UserId, string? Error, string? Description)
    {
        public static Outcome Refuse(string error, string description) => new(0, error, description);
    }

    private async Task<Outcome> ResolveAsync(
        NpgsqlConnection connection, string provider, string subject, string? email, bool verified, string? name, long? linkUserId, DateTimeOffset now,
        CancellationToken cancellationToken)
    {
        // 1. A linked identity signs in to its account, whatever its email says today.
        await using (var find = new NpgsqlCommand(FindIdentitySql, connection).With("provider", provider).With("subject", subject))
        {
            await using var reader = await find.ExecuteReaderAsync(cancellationToken);
            if (await reader.ReadAsync(cancellationToken))
            {
                var (userId, disabled) = (reader.Get<long>("app_user_id"), reader.Get<bool>("disabled"));
                if (linkUserId is { } other && other != userId)
                {
                    return Outcome.Refuse("identity_linked_elsewhere", "This identity is already linked to another Holdfast account; unlink it there first.");
                }

                return disabled ? Disabled() : new Outcome(userId, null, null);
            }
        }

        // 2. A signed-in account asked to link this identity (it proved control with its token).
        if (linkUserId is { } linking)
        {
            if (await IsDisabledAsync(connection, linking, cancellationToken) is not false)
            {
                return Disabled();
            }

            await LinkAsync(connection, linking, provider, subject, email, now, "user.external_identity_linked", cancellationToken);
            return new Outcome(linking, null, null);
        }

        // 3. A new identity: only a verified email may create or match an account.
        if (string.IsNullOrEmpty(email) || !verified || !Register.IsEmail(email))
        {
            return Outcome.Refuse("email_not_verified",
                "The provider did not say this email is verified (email_verified), so it cannot create or reach a Holdfast account. Verify it at the provider, or sign up with a password.");
        }

        await using (var existing = new NpgsqlCommand("select app_user_id from app_user where lower(email) = lower(@email)", connection).With("email", email))
        {
            if (await existing.ExecuteScalarAsync(cancellationToken) is long)
            {
                // Never silently: whoever controls the provider account may not control this one.
                return Outcome.Refuse("account_exists",
                    "A Holdfast account with this email exists. Sign in to it (password) and link this provider at POST /auth/external/{provider}/link, then sign in with the provider.");
            }
        }

        long created;
        await using (var insert = new NpgsqlCommand(InsertUserSql, connection))
        {
            var displayName = name is { Length: >= 1 and <= 100 } ? name : email[..email.IndexOf('@', StringComparison.Ordinal)];
            insert.With("email", email).With("display_name", displayName).With("now", now);
            created = (long)(await insert.ExecuteScalarAsync(cancellationToken))!;
        }

        await LinkAsync(connection, created, provider, subject, email, now, "user.registered_external", cancellationToken);
        await outbox.EnqueueAsync(connection, EmailArgs.Welcome(created), cancellationToken);
        return new Outcome(created, null, null);
    }

    private static Outcome Disabled() => Outcome.Refuse("account_disabled", "This account is disabled and cannot sign in.");

    private static async Task<bool?> IsDisabledAsync(NpgsqlConnection connection, long userId, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("select disabled_at is not null from app_user where app_user_id = @user_id for update", connection).With("user_id", userId);
        return await command.ExecuteScalarAsync(cancellationToken) as bool?;
    }

    private static async Task LinkAsync(
        NpgsqlConnection connection, long userId, string provider, string subject, string? email, DateTimeOffset now, string action, CancellationToken cancellationToken)
    {
        await using var insert = new NpgsqlCommand(InsertIdentitySql, connection)
            .With("user_id", userId).With("provider", provider).With("subject", subject).With("email", email).With("now", now);
        var identityId = (long)(await insert.ExecuteScalarAsync(cancellationToken))!;
        await AuditLog.RecordAsync(connection, userId, action, "external_identity", identityId, null, new { provider, email }, now, cancellationToken);
    }

    // The identity's row is locked, so a concurrent unlink either happens first (and this is a new
    // identity) or waits for this sign-in.
    private const string FindIdentitySql = """
        select i.app_user_id, u.disabled_at is not null as disabled
        from external_identity i join app_user u on u.app_user_id = i.app_user_id
        where i.provider = @provider and i.subject = @subject
        for update of i
        """;

    // An account made from a provider's identity has no password: it signs in through the provider
    // until it sets one.
    private const string InsertUserSql = """
        insert into app_user (email, display_name, password_hash, role, created_at)
        values (@email, @display_name, null, 'customer', @now)
        returning app_user_id
        """;

    private const string InsertIdentitySql = """
        insert into external_identity (app_user_id, provider, subject, email, linked_at)
        values (@user_id, @provider, @subject, @email, @now)
        returning external_identity_id
        """;

    // Old grants are pruned as new ones are made (external_grant_expires_idx): a code lives a minute.
    private const string InsertCodeSql = """
        with pruned as (
          delete from external_grant where expires_at < @now - interval '1 day'
        )
        insert into external_grant (grant_hash, purpose, app_user_id, created_at, expires_at)
        values (@grant_hash, 'login', @user_id, @now, @expires_at)
        """;
}

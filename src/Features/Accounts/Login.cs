using Carter;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Holdfast.Features.Accounts;

/// <summary><c>POST /auth/login</c>: exchanges email and password for a JWT access token and a refresh token (a new session).</summary>
public sealed class Login : ICarterModule
{
    /// <summary>Credentials.</summary>
    public sealed record Request(string? Email, string? Password);

    /// <summary>The password was right and the account has two-factor authentication: send a code to <c>POST /auth/login/2fa</c>.</summary>
    /// <param name="MfaRequired">Always true.</param>
    /// <param name="MfaToken">Proof of the password step, valid 5 minutes.</param>
    /// <param name="ExpiresAt">UTC instant the MFA token expires.</param>
    public sealed record MfaChallenge(bool MfaRequired, string MfaToken, DateTimeOffset ExpiresAt);

    private sealed record Account(long AppUserId, string Email, string? PasswordHash, string Role, bool TotpEnabled, bool Disabled);

    /// <summary>Failed logins for one email before it is locked out.</summary>
    public const int FreeAttempts = 5;

    /// <summary>Longest lockout, in seconds; lockouts double from 1 s per further failure up to this.</summary>
    public const int MaxLockSeconds = 900;

    // Verified when the email is unknown, so an unknown email costs the same time as a wrong password.
    private static readonly string DummyHash = new PasswordHasher<PasswordOwner>().HashPassword(new PasswordOwner(), "not-a-real-password");

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app) =>
        app.MapPost("/auth/login", HandleAsync)
            .WithRequestExample(new { email = "ada@example.com", password = "correct horse battery staple" })
            .DeclaresProblem(StatusCodes.Status401Unauthorized, "Email or password is incorrect, or the account is disabled.")
            .RequireRateLimiting(RateLimiting.Auth)
            .WithTags("Accounts")
            .WithSummary("Log in and get an access token")
            .WithDescription("200 with a token pair, or {mfa_required, mfa_token} when the account has two-factor authentication " +
                             "(finish at POST /auth/login/2fa). 401 with one message for an unknown email and a wrong password alike. " +
                             "After 5 failures for one email, 429 with Retry-After, doubling from 1 s to 15 min.");

    internal static async Task<Results<Ok<TokenPair>, Ok<MfaChallenge>, ValidationProblem, ProblemHttpResult>> HandleAsync(
        Request request,
        HttpContext http,
        NpgsqlDataSource db,
        IPasswordHasher<PasswordOwner> hasher,
        TokenIssuer tokens,
        IOptions<SessionOptions> sessions,
        TimeProvider time,
        CancellationToken cancellationToken)
    {
        var validation = new Validation()
            .Require(!string.IsNullOrWhiteSpace(request.Email), "email", "Required.")
            .Require(!string.IsNullOrEmpty(request.Password), "password", "Required.");
        if (!validation.IsValid)
        {
            return validation.Problem();
        }

        var email = request.Email!.Trim();
        var now = time.GetUtcNow();
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        var throttle = await ReadThrottleAsync(connection, email, cancellationToken);
        if (throttle?.LockedUntil is { } until && until > now)
        {
            return Problems.TooManyRequests(http.Response, "Too many failed logins.", until - now);
        }

        var account = await FindAsync(connection, email, cancellationToken);
        var verdict = hasher.VerifyHashedPassword(new PasswordOwner(), account?.PasswordHash ?? DummyHash, request.Password!);
        if (account?.PasswordHash is null || verdict == PasswordVerificationResult.Failed)
        {
            await using var failure = new NpgsqlCommand(FailureSql, connection)
                .With("email", email).With("now", now).With("free", FreeAttempts).With("max_lock", MaxLockSeconds);
            await failure.ExecuteNonQueryAsync(cancellationToken);
            return Problems.Unauthorized("Email or password is incorrect.");
        }

        if (account.Disabled)
        {
            // Only after the password proved right, so the answer tells nothing to who lacks it.
            return Problems.Unauthorized("This account is disabled.");
        }

        if (throttle is not null)
        {
            await using var success = new NpgsqlCommand(SuccessSql, connection).With("email", email);
            await success.ExecuteNonQueryAsync(cancellationToken);
        }

        if (account.TotpEnabled)
        {
            var challenge = tokens.IssueMfaChallenge(account.AppUserId, now);
            return TypedResults.Ok(new MfaChallenge(true, challenge.AccessToken, challenge.ExpiresAt));
        }

        var pair = await Sessions.IssueAsync(connection, account.AppUserId, account.Email, account.Role, Guid.NewGuid(), tokens, sessions.Value,
            now, cancellationToken);
        return TypedResults.Ok(pair);
    }

    // Failures recorded for this email, if any (a success then clears them).
    private sealed record Throttle(DateTimeOffset? LockedUntil);

    private static async Task<Throttle?> ReadThrottleAsync(NpgsqlConnection connection, string email, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(ThrottleSql, connection).With("email", email);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? new Throttle(reader.Get<DateTimeOffset?>("locked_until")) : null;
    }

    private static async Task<Account?> FindAsync(NpgsqlConnection connection, string email, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(FindSql, connection).With("email", email);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? new Account(reader.Get<long>("app_user_id"), reader.Get<string>("email"), reader.Get<string?>("password_hash"), reader.Get<string>("role"),
                reader.Get<bool>("totp_enabled"), reader.Get<bool>("disabled"))
            : null;
    }

    private const string ThrottleSql = """
        select locked_until from login_throttle where email_key = lower(@email)
        """;

    // Failures beyond the free ones lock the email for 1, 2, 4, … seconds, at most max_lock.
    private const string FailureSql = """
        insert into login_throttle as t (email_key, failures, updated_at)
        values (lower(@email), 1, @now)
        on conflict (email_key) do update
        set failures = t.failures + 1,
            updated_at = @now,
            locked_until = case when t.failures + 1 >= @free
                                then @now + make_interval(secs => least(power(2, t.failures + 1 - @free), @max_lock))
                           end
        """;

    private const string SuccessSql = "delete from login_throttle where email_key = lower(@email)";

    private const string FindSql = """
        select app_user_id, email, password_hash, role, totp_enabled_at is not null as totp_enabled, disabled_at is not null as disabled
        from app_user
        where lower(email) = lower(@email)
        """;
}

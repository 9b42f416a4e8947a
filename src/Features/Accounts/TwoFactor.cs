using System.Security.Cryptography;
using System.Text;
using Carter;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace Holdfast.Features.Accounts;

/// <summary>
/// Two-factor authentication with TOTP (RFC 6238): <c>POST /auth/2fa/enrol</c> gives a secret and
/// its <c>otpauth://</c> URI; <c>POST /auth/2fa/confirm</c> with a code from the app enables it and
/// returns ten one-time recovery codes (shown once, stored hashed); <c>POST /auth/2fa/disable</c>
/// with a code or a recovery code turns it off.
/// </summary>
public sealed class TwoFactor : ICarterModule
{
    /// <summary>Recovery codes issued at confirmation.</summary>
    public const int RecoveryCodeCount = 10;

    /// <summary>A new secret to put into an authenticator app.</summary>
    /// <param name="Secret">RFC 4648 base32, unpadded.</param>
    /// <param name="OtpauthUri">The same as an <c>otpauth://totp/</c> URI, for a QR code.</param>
    public sealed record Enrolment(string Secret, string OtpauthUri);

    /// <summary>A code from the authenticator app, or (to disable) a recovery code.</summary>
    public sealed record CodeRequest(string? Code, string? RecoveryCode);

    /// <summary>Two-factor authentication is on.</summary>
    /// <param name="RecoveryCodes">Ten one-time codes (<c>xxxx-xxxx</c>) for when the app is lost; shown only now.</param>
    public sealed record Confirmation(IReadOnlyList<string> RecoveryCodes);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/auth/2fa").RequireAuthorization().WithTags("Accounts");
        group.MapPost("/enrol", EnrolAsync).DeclaresProblem(StatusCodes.Status409Conflict, "Two-factor is already on.").WithSummary("Start two-factor enrolment")
            .WithDescription("200 with a fresh secret (replacing an unconfirmed one); 409 when two-factor is already on.");
        group.MapPost("/confirm", ConfirmAsync).DeclaresProblem(StatusCodes.Status409Conflict, "No enrolment is in progress (or two-factor is already on).").WithSummary("Confirm enrolment with a code")
            .WithDescription("200 with ten recovery codes; 400 when the code is wrong; 409 when not enrolling.");
        group.MapPost("/disable", DisableAsync).DeclaresProblem(StatusCodes.Status409Conflict, "Two-factor is off.").WithSummary("Turn two-factor off")
            .WithDescription("204; 400 when neither the code nor the recovery code is right; 409 when it is off.");
    }

    internal static async Task<Results<Ok<Enrolment>, ProblemHttpResult>> EnrolAsync(HttpContext http, NpgsqlDataSource db, CancellationToken cancellationToken)
    {
        var secret = Totp.NewSecret();
        await using var command = db.CreateCommand(EnrolSql);
        command.With("user_id", http.User.UserId());
        command.With("secret", secret);
        var email = (string?)await command.ExecuteScalarAsync(cancellationToken);
        return email is null
            ? Problems.Conflict("Two-factor already on.", "Disable it first to enrol a new authenticator.")
            : TypedResults.Ok(new Enrolment(OtpNet.Base32Encoding.ToString(secret), Totp.OtpAuthUri("Holdfast", email, secret)));
    }

    internal static async Task<Results<Ok<Confirmation>, ValidationProblem, ProblemHttpResult>> ConfirmAsync(
        CodeRequest request, HttpContext http, NpgsqlDataSource db, TimeProvider time, CancellationToken cancellationToken)
    {
        var userId = http.User.UserId();
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var state = await LockAsync(connection, userId, cancellationToken);
        if (state.Secret is null || state.Enabled)
        {
            return Problems.Conflict("Not enrolling.", state.Enabled ? "Two-factor is already on." : "Call POST /auth/2fa/enrol first.");
        }

        var now = time.GetUtcNow();
        if (Totp.Verify(state.Secret, request.Code, now, state.LastStep) is not { } step)
        {
            return new Validation().Add("code", "Not the current code of this secret.").Problem();
        }

        var codes = Enumerable.Range(0, RecoveryCodeCount).Select(_ => NewRecoveryCode()).ToArray();
        await using (var enable = new NpgsqlCommand(EnableSql, connection))
        {
            enable.With("user_id", userId);
            enable.With("step", step);
            enable.With("now", now);
            enable.With("hashes", codes.Select(HashRecoveryCode).ToArray());
            await enable.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        return TypedResults.Ok(new Confirmation(codes));
    }

    internal static async Task<Results<NoContent, ValidationProblem, ProblemHttpResult>> DisableAsync(
        CodeRequest request, HttpContext http, NpgsqlDataSource db, TimeProvider time, CancellationToken cancellationToken)
    {
        var userId = http.User.UserId();
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var state = await LockAsync(connection, userId, cancellationToken);
        if (!state.Enabled)
        {
            return Problems.Conflict("Two-factor is off.", "Nothing to disable.");
        }

        if (!await SecondFactorAsync(connection, userId, state, request.Code, request.RecoveryCode, time.GetUtcNow(), cancellationToken))
        {
            return new Validation().Add("code", "Give the current code from the authenticator app, or an unused recovery_code.").Problem();
        }

        await using (var disable = new NpgsqlCommand(DisableSql, connection))
        {
            disable.With("user_id", userId);
            await disable.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        return TypedResults.NoContent();
    }

    /// <summary>The account's two-factor state, row-locked so two uses of one code cannot both pass.</summary>
    internal sealed record State(byte[]? Secret, bool Enabled, long? LastStep, string Email, string Role);

    internal static async Task<State> LockAsync(NpgsqlConnection connection, long userId, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(LockSql, connection);
        command.With("user_id", userId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return new State(reader.Get<byte[]?>("totp_secret"), reader.Get<bool>("totp_enabled"), reader.Get<long?>("totp_last_step"),
            reader.Get<string>("email"), reader.Get<string>("role"));
    }

    /// <summary>
    /// Checks a TOTP code (recording its step so it cannot be reused) or spends a recovery code, in
    /// the caller's transaction after <see cref="LockAsync"/>.
    /// </summary>
    internal static async Task<bool> SecondFactorAsync(
        NpgsqlConnection connection, long userId, State state, string? code, string? recoveryCode, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (code is not null && state.Secret is not null && Totp.Verify(state.Secret, code, now, state.LastStep) is { } step)
        {
            await using var record = new NpgsqlCommand(RecordStepSql, connection);
            record.With("user_id", userId);
            record.With("step", step);
            await record.ExecuteNonQueryAsync(cancellationToken);
            return true;
        }

        if (!string.IsNullOrWhiteSpace(recoveryCode))
        {
            await using var spend = new NpgsqlCommand(SpendRecoveryCodeSql, connection);
            spend.With("user_id", userId);
            spend.With("hash", HashRecoveryCode(recoveryCode));
            spend.With("now", now);
            return await spend.ExecuteNonQueryAsync(cancellationToken) == 1;
        }

        return false;
    }

    private static string NewRecoveryCode()
    {
        var text = OtpNet.Base32Encoding.ToString(RandomNumberGenerator.GetBytes(5)).ToLowerInvariant(); // 40 bits: 8 characters, no padding
        return $"{text[..4]}-{text[4..]}";
    }

    private static byte[] HashRecoveryCode(string code) =>
        SHA256.HashData(Encoding.ASCII.GetBytes(code.Trim().ToLowerInvariant().Replace("-", "", StringComparison.Ordinal)));

    private const string EnrolSql = """
        update app_user set totp_secret = @secret, totp_last_step = null
        where app_user_id = @user_id and totp_enabled_at is null
        returning email
        """;

    private const string LockSql = """
        select totp_secret, totp_enabled_at is not null as totp_enabled, totp_last_step, email, role from app_user where app_user_id = @user_id for update
        """;

    private const string EnableSql = """
        update app_user set totp_enabled_at = @now, totp_last_step = @step where app_user_id = @user_id;
        delete from recovery_code where app_user_id = @user_id;
        insert into recovery_code (app_user_id, code_hash) select @user_id, unnest(@hashes);
        """;

    private const string RecordStepSql = "update app_user set totp_last_step = @step where app_user_id = @user_id";

    private const string SpendRecoveryCodeSql = """
        update recovery_code set used_at = @now
        where app_user_id = @user_id and code_hash = @hash and used_at is null
        """;

    private const string DisableSql = """
        update app_user set totp_secret = null, totp_enabled_at = null, totp_last_step = null where app_user_id = @user_id;
        delete from recovery_code where app_user_id = @user_id;
        """;
}

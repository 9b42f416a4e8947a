using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Carter;
using Holdfast.Features.Jobs;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Holdfast.Infrastructure.Jobs;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace Holdfast.Features.Accounts;

/// <summary>
/// The signed-in customer's mobile number for SMS notifications (docs/decisions/0028-sms.md):
/// <c>PUT /me/phone</c> sets it and texts a one-time code, <c>POST /me/phone/verify</c> proves it,
/// <c>PUT /me/phone/preferences</c> chooses the kinds of message, <c>GET</c> and <c>DELETE /me/phone</c>.
/// </summary>
public sealed partial class Phone : ICarterModule
{
    /// <summary>How long a code may be used, in minutes.</summary>
    public const int CodeMinutes = 10;

    /// <summary>Wrong codes accepted for one code before it is dead.</summary>
    public const int MaxAttempts = 5;

    /// <summary>Least time between two codes for one account, in seconds.</summary>
    public const int ResendSeconds = 30;

    /// <summary>The number to use.</summary>
    /// <param name="PhoneNumber">E.164: <c>+</c>, country code and number, digits only, at most 15 (<c>+447700900123</c>).</param>
    public sealed record SetRequest(string? PhoneNumber);

    /// <summary>The code from the SMS.</summary>
    public sealed record VerifyRequest(string? Code);

    /// <summary>Which kinds of message to get by SMS.</summary>
    /// <param name="Confirmation">Booking confirmed, or expired unpaid.</param>
    /// <param name="Reminder">Reminders before the show.</param>
    /// <param name="ShowChanges">The show cancelled or moved.</param>
    public sealed record Preferences(bool? Confirmation, bool? Reminder, bool? ShowChanges);

    /// <summary>The account's number and choices.</summary>
    /// <param name="PhoneNumber">E.164.</param>
    /// <param name="Verified">True once a code sent to it came back.</param>
    /// <param name="Confirmation">SMS when a booking is confirmed or expires unpaid.</param>
    /// <param name="Reminder">SMS reminders.</param>
    /// <param name="ShowChanges">SMS when the show is cancelled or moved.</param>
    /// <param name="CodeExpiresAt">UTC instant the latest code stops working, while one is pending.</param>
    public sealed record State(string PhoneNumber, bool Verified, bool Confirmation, bool Reminder, bool ShowChanges, DateTimeOffset? CodeExpiresAt);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app)
    {
        var me = app.MapGroup("/me").RequireAuthorization().WithTags("Accounts");
        me.MapGet("/phone", GetAsync).DeclaresProblem(StatusCodes.Status404NotFound, "No number is set.").WithSummary("My phone number for SMS").WithDescription("404 when none is set.");
        me.MapPut("/phone", SetAsync)
            .WithRequestExample(new { phone_number = "+447700900123" })
            .DeclaresProblem(StatusCodes.Status429TooManyRequests, "A code was sent less than 30 s ago.")
            .WithSummary("Set my phone number and text it a code")
            .WithDescription($"202: a {CodeMinutes}-minute six-digit code goes out by SMS; confirm at POST /me/phone/verify. A new number starts unverified with every kind off. " +
                             "400 when it is not E.164; 429 when asked again within 30 s.");
        me.MapPost("/phone/verify", VerifyAsync)
            .DeclaresProblem(StatusCodes.Status404NotFound, "The number was removed meanwhile.")
            .WithRequestExample(new { code = "123456" })
            .WithSummary("Confirm my phone number with the code")
            .WithDescription($"200 when the code is right. 400 when it is wrong (at most {MaxAttempts} tries per code), expired, or none is pending.");
        me.MapPut("/phone/preferences", SetPreferencesAsync)
            .WithRequestExample(new { confirmation = true, reminder = true, show_changes = false })
            .DeclaresProblem(StatusCodes.Status409Conflict, "The number is not verified yet.")
            .DeclaresProblem(StatusCodes.Status404NotFound, "No number is set.")
            .WithSummary("Choose which messages come by SMS")
            .WithDescription("200. Omitted fields keep their value. 404 without a number; 409 before it is verified. A STOP reply turns them all off.");
        me.MapDelete("/phone", DeleteAsync).DeclaresProblem(StatusCodes.Status404NotFound, "No number is set.").WithSummary("Remove my phone number").WithDescription("204; 404 when none is set.");
    }

    internal static async Task<Results<Ok<State>, ProblemHttpResult>> GetAsync(HttpContext http, NpgsqlDataSource db, TimeProvider time, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        return await ReadAsync(connection, http.User.UserId(), time.GetUtcNow(), cancellationToken) is { } state ? TypedResults.Ok(state) : Problems.NotFound("Phone number");
    }

    internal static async Task<Results<Accepted<State>, ValidationProblem, ProblemHttpResult>> SetAsync(
        SetRequest request, HttpContext http, NpgsqlDataSource db, JobOutbox outbox, TimeProvider time, CancellationToken cancellationToken)
    {
        var number = request.PhoneNumber?.Trim() ?? "";
        if (!E164().IsMatch(number))
        {
            return new Validation().Add("phone_number", "Must be E.164: '+', country code and number, 8 to 16 characters, digits only (e.g. +447700900123).").Problem();
        }

        var userId = http.User.UserId();
        var now = time.GetUtcNow();
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);

        // The account's row lock orders two concurrent requests, so the throttle sees the first one's code.
        await using (var lockUser = new NpgsqlCommand("select 1 from app_user where app_user_id = @user_id for update", connection).With("user_id", userId))
        {
            await lockUser.ExecuteNonQueryAsync(cancellationToken);
        }

        await using (var last = new NpgsqlCommand("select max(created_at) from phone_verification where app_user_id = @user_id", connection).With("user_id", userId))
        {
            if (await last.ExecuteScalarAsync(cancellationToken) is DateTime previous && now - new DateTimeOffset(previous, TimeSpan.Zero) < TimeSpan.FromSeconds(ResendSeconds))
            {
                return Problems.TooManyRequests(http.Response, "A code was sent moments ago.", new DateTimeOffset(previous, TimeSpan.Zero).AddSeconds(ResendSeconds) - now);
            }
        }

        long verificationId;
        await using (var upsert = new NpgsqlCommand(SetSql, connection))
        {
            upsert.With("user_id", userId).With("phone_number", number).With("now", now).With("salt", RandomNumberGenerator.GetBytes(16))
                .With("expires_at", now.AddMinutes(CodeMinutes));
            verificationId = (long)(await upsert.ExecuteScalarAsync(cancellationToken))!;
        }

        await AuditLog.RecordAsync(connection, userId, "user.phone_set", "customer_phone", userId, null, new { verified = false }, now, cancellationToken);
        await outbox.EnqueueAsync(connection, SmsArgs.Verify(verificationId), cancellationToken);
        var state = (await ReadAsync(connection, userId, now, cancellationToken))!;
        await transaction.CommitAsync(cancellationToken);
        return TypedResults.Accepted("/me/phone", state);
    }

    internal static async Task<Results<Ok<State>, ValidationProblem, ProblemHttpResult>> VerifyAsync(
        VerifyRequest request, HttpContext http, NpgsqlDataSource db, OneTimeCodes codes, TimeProvider time, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(request.Code))
        {
            return new Validation().Add("code", "Required.").Problem();
        }

        var userId = http.User.UserId();
        var now = time.GetUtcNow();
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using var pending = new NpgsqlCommand(PendingSql, connection).With("user_id", userId);
        await using var reader = await pending.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken) || reader.Get<DateTime?>("verified_at") is not null)
        {
            return new Validation().Add("code", "No code is pending; set the number again to get one.").Problem();
        }

        var (id, number, salt, attempts, expiresAt) = (reader.Get<long>("phone_verification_id"), reader.Get<string>("phone_number"), reader.Get<byte[]>("code_salt"),
            reader.Get<int>("attempts"), reader.Get<DateTime>("expires_at"));
        await reader.CloseAsync();
        if (expiresAt <= now.UtcDateTime || attempts >= MaxAttempts)
        {
            return new Validation().Add("code", "This code has expired or had too many wrong tries; set the number again to get a new one.").Problem();
        }

        if (!codes.Matches(SmsArgs.VerifyPurpose, id, salt, request.Code.Trim()))
        {
            await using var wrong = new NpgsqlCommand("update phone_verification set attempts = attempts + 1 where phone_verification_id = @id", connection).With("id", id);
            await wrong.ExecuteNonQueryAsync(cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            return new Validation().Add("code", $"Wrong code; {MaxAttempts - attempts - 1} tries left.").Problem();
        }

        await using (var verified = new NpgsqlCommand(VerifiedSql, connection).With("id", id).With("user_id", userId).With("phone_number", number).With("now", now))
        {
            await verified.ExecuteNonQueryAsync(cancellationToken);
        }

        await AuditLog.RecordAsync(connection, userId, "user.phone_verified", "customer_phone", userId, new { verified = false }, new { verified = true }, now, cancellationToken);
        var state = await ReadAsync(connection, userId, now, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return state is null ? Problems.NotFound("Phone number") : TypedResults.Ok(state);
    }

    internal static async Task<Results<Ok<State>, ProblemHttpResult>> SetPreferencesAsync(
        Preferences request, HttpContext http, NpgsqlDataSource db, TimeProvider time, CancellationToken cancellationToken)
    {
        var userId = http.User.UserId();
        var now = time.GetUtcNow();
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var before = await ReadAsync(connection, userId, now, cancellationToken);
        if (before is null)
        {
            return Problems.NotFound("Phone number");
        }

        if (!before.Verified)
        {
            return Problems.Conflict("Number not verified.", "Confirm the number with the code we texted (POST /me/phone/verify) first.");
        }

        await using (var update = new NpgsqlCommand(PreferencesSql, connection))
        {
            update.With("user_id", userId).With("now", now)
                .With("confirmation", request.Confirmation ?? before.Confirmation)
                .With("reminder", request.Reminder ?? before.Reminder)
                .With("show_changes", request.ShowChanges ?? before.ShowChanges);
            await update.ExecuteNonQueryAsync(cancellationToken);
        }

        var after = (await ReadAsync(connection, userId, now, cancellationToken))!;
        await AuditLog.RecordAsync(connection, userId, "user.sms_preferences_changed", "customer_phone", userId,
            new { before.Confirmation, before.Reminder, before.ShowChanges }, new { after.Confirmation, after.Reminder, after.ShowChanges }, now, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return TypedResults.Ok(after);
    }

    internal static async Task<Results<NoContent, ProblemHttpResult>> DeleteAsync(HttpContext http, NpgsqlDataSource db, TimeProvider time, CancellationToken cancellationToken)
    {
        var userId = http.User.UserId();
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using var delete = new NpgsqlCommand(DeleteSql, connection).With("user_id", userId);
        if (await delete.ExecuteNonQueryAsync(cancellationToken) == 0)
        {
            return Problems.NotFound("Phone number");
        }

        await AuditLog.RecordAsync(connection, userId, "user.phone_removed", "customer_phone", userId, new { removed = true }, null, time.GetUtcNow(), cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return TypedResults.NoContent();
    }

    private static async Task<State?> ReadAsync(NpgsqlConnection connection, long userId, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(ReadSql, connection).With("user_id", userId).With("now", now);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? new State(reader.Get<string>("phone_number"), reader.Get<bool>("verified"), reader.Get<bool>("notify_confirmation"), reader.Get<bool>("notify_reminder"),
                reader.Get<bool>("notify_show_changes"), reader.Get<DateTimeOffset?>("code_expires_at"))
            : null;
    }

    [GeneratedRegex(@"^\+[1-9][0-9]{6,14}$")]
    private static partial Regex E164();

    // A new number starts over: unverified, every kind off. The same number again only sends a new code.
    private const string SetSql = """
        with phone as (
          insert into customer_phone as p (app_user_id, phone_number, updated_at)
          values (@user_id, @phone_number, @now)
          on conflict (app_user_id) do update
          set phone_number = excluded.phone_number,
              verified_at = case when p.phone_number = excluded.phone_number then p.verified_at end,
              notify_confirmation = p.notify_confirmation and p.phone_number = excluded.phone_number,
              notify_reminder = p.notify_reminder and p.phone_number = excluded.phone_number,
              notify_show_changes = p.notify_show_changes and p.phone_number = excluded.phone_number,
              updated_at = @now
        )
        insert into phone_verification (app_user_id, phone_number, code_salt, created_at, expires_at)
        values (@user_id, @phone_number, @salt, @now, @expires_at)
        returning phone_verification_id
        """;

    // Only the latest code counts; an older one is superseded. Locked, so concurrent guesses count one by one.
    private const string PendingSql = """
        select phone_verification_id, phone_number, code_salt, attempts, expires_at, verified_at
        from phone_verification
        where app_user_id = @user_id
        order by phone_verification_id desc
        limit 1
        for update
        """;

    // Verifies the number only if it is still the one the code went to.
    private const string VerifiedSql = """
        update phone_verification set verified_at = @now where phone_verification_id = @id;
        update customer_phone set verified_at = @now, updated_at = @now where app_user_id = @user_id and phone_number = @phone_number;
        """;

    private const string PreferencesSql = """
        update customer_phone
        set notify_confirmation = @confirmation, notify_reminder = @reminder, notify_show_changes = @show_changes, updated_at = @now
        where app_user_id = @user_id
        """;

    // Counts the number's row only (the codes go with it).
    private const string DeleteSql = """
        with codes as (delete from phone_verification where app_user_id = @user_id)
        delete from customer_phone where app_user_id = @user_id
        """;

    private const string ReadSql = """
        select p.phone_number, p.verified_at is not null as verified, p.notify_confirmation, p.notify_reminder, p.notify_show_changes,
               (select v.expires_at from phone_verification v
                where v.app_user_id = p.app_user_id and v.verified_at is null and v.expires_at > @now and v.phone_number = p.phone_number
                  and v.phone_verification_id = (select max(l.phone_verification_id) from phone_verification l where l.app_user_id = p.app_user_id)) as code_expires_at
        from customer_phone p
        where p.app_user_id = @user_id
        """;
}

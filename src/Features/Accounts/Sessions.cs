using System.ComponentModel.DataAnnotations;
using System.Security.Cryptography;
using Holdfast.Infrastructure;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Database;
using Microsoft.AspNetCore.WebUtilities;
using Npgsql;

namespace Holdfast.Features.Accounts;

/// <summary>Settings under <c>Sessions</c> in configuration.</summary>
public sealed class SessionOptions
{
    /// <summary>Refresh-token lifetime in days (default 30); each rotation starts a new lifetime.</summary>
    [Range(1, 365)]
    public int RefreshTokenDays { get; set; } = 30;
}

/// <summary>Registers <see cref="SessionOptions"/>.</summary>
public sealed class SessionServices : IConfigureServices
{
    /// <inheritdoc />
    public void ConfigureServices(IServiceCollection services, IConfiguration configuration) =>
        services.AddSettings<SessionOptions>("Sessions");
}

/// <summary>What a client keeps after login, registration or refresh.</summary>
/// <param name="AccessToken">JWT bearer token for API calls.</param>
/// <param name="TokenType">Always <c>Bearer</c>.</param>
/// <param name="ExpiresIn">Seconds until the access token expires.</param>
/// <param name="ExpiresAt">UTC instant the access token expires.</param>
/// <param name="RefreshToken">Opaque, single-use: exchange it at <c>POST /auth/refresh</c> for a new pair.</param>
/// <param name="RefreshExpiresAt">UTC instant the refresh token expires.</param>
/// <param name="UserId">The account id.</param>
/// <param name="Role">admin, organizer or customer.</param>
public sealed record TokenPair(
    string AccessToken, string TokenType, int ExpiresIn, DateTimeOffset ExpiresAt, string RefreshToken, DateTimeOffset RefreshExpiresAt, long UserId, string Role);

/// <summary>Issues access and refresh tokens for the account slices (login, register, refresh).</summary>
internal static class Sessions
{
    /// <summary>
    /// Stores a new refresh token in <paramref name="familyId"/> (a new family for a fresh login) and
    /// returns it with a new access token. Runs on the caller's connection and transaction.
    /// </summary>
    public static async Task<TokenPair> IssueAsync(
        NpgsqlConnection connection, long userId, string email, string role, Guid familyId,
        TokenIssuer tokens, SessionOptions options, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var refresh = RandomNumberGenerator.GetBytes(32);
        var refreshExpiresAt = now.AddDays(options.RefreshTokenDays);
        await using (var command = new NpgsqlCommand(InsertSql, connection))
        {
            command.With("user_id", userId);
            command.With("family_id", familyId);
            command.With("token_hash", SHA256.HashData(refresh));
            command.With("now", now);
            command.With("expires_at", refreshExpiresAt);
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        var access = tokens.Issue(userId, email, role, now, familyId);
        return new TokenPair(access.AccessToken, "Bearer", (int)(access.ExpiresAt - now).TotalSeconds, access.ExpiresAt,
            WebEncoders.Base64UrlEncode(refresh), refreshExpiresAt, userId, role);
    }

    /// <summary>SHA-256 of a presented refresh token, or null when it is not base64url of 32 bytes.</summary>
    public static byte[]? HashOf(string? token)
    {
        if (string.IsNullOrEmpty(token) || token.Length != 43)
        {
            return null;
        }

        try
        {
            return SHA256.HashData(WebEncoders.Base64UrlDecode(token));
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private const string InsertSql = """
        insert into refresh_token (app_user_id, family_id, token_hash, created_at, expires_at)
        values (@user_id, @family_id, @token_hash, @now, @expires_at)
        """;
}

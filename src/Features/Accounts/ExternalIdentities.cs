using System.Security.Cryptography;
using Carter;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Holdfast.Features.Accounts;

/// <summary>
/// The signed-in account's identities at OpenID Connect providers: <c>GET /auth/identities</c>,
/// <c>DELETE /auth/identities/{id}</c>, and <c>POST /auth/external/{provider}/link</c>, which
/// starts linking a new one (the account proves control with its own access token; decision 0027).
/// </summary>
public sealed class ExternalIdentities : ICarterModule
{
    /// <summary>A linked identity.</summary>
    /// <param name="IdentityId">Its id (for <c>DELETE /auth/identities/{id}</c>).</param>
    /// <param name="Provider">The provider's name in configuration, e.g. <c>google</c>.</param>
    /// <param name="Email">The email the provider gave when it was linked, if any.</param>
    /// <param name="LinkedAt">UTC instant it was linked.</param>
    public sealed record Identity(long IdentityId, string Provider, string? Email, DateTimeOffset LinkedAt);

    /// <summary>Where the browser should return after linking.</summary>
    /// <param name="RedirectUri">One of <c>ExternalLogin:RedirectUris</c>, exactly.</param>
    public sealed record LinkRequest(string? RedirectUri);

    /// <summary>How to continue: navigate the browser to <see cref="AuthorizeUrl"/>.</summary>
    /// <param name="AuthorizeUrl">Path and query of <c>GET /auth/external/{provider}</c> with a one-time link ticket.</param>
    /// <param name="ExpiresAt">UTC instant the ticket expires.</param>
    public sealed record LinkStart(string AuthorizeUrl, DateTimeOffset ExpiresAt);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app)
    {
        var auth = app.MapGroup("/auth").RequireAuthorization().WithTags("Accounts");
        auth.MapGet("/identities", ListAsync).WithSummary("List my linked identity providers").WithDescription("Oldest first; an account has a few at most.");
        auth.MapDelete("/identities/{identityId:long}", UnlinkAsync)
            .DeclaresProblem(StatusCodes.Status409Conflict, "It is the account's last way to sign in (no password, no other identity).")
            .WithSummary("Unlink an identity provider")
            .WithDescription("204; 404 when it is not an identity of mine; 409 when it is my last way to sign in (set a password first).");
        auth.MapPost("/external/{provider}/link", StartLinkAsync)
            .WithRequestExample(new { redirect_uri = "https://shop.example/signed-in" })
            .WithSummary("Start linking an identity provider to my account")
            .WithDescription("200 with authorize_url (GET /auth/external/{provider} with a one-time link ticket, valid ExternalLogin:LinkTicketSeconds): " +
                             "navigate the browser there; after the provider, it comes back to redirect_uri with a code like a sign-in. " +
                             "400 when redirect_uri is not allowed; 404 for an unknown provider.");
    }

    internal static async Task<Ok<List<Identity>>> ListAsync(HttpContext http, NpgsqlDataSource db, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand(ListSql).With("user_id", http.User.UserId());
        var identities = new List<Identity>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            identities.Add(new Identity(reader.Get<long>("external_identity_id"), reader.Get<string>("provider"), reader.Get<string?>("email"),
                reader.Get<DateTimeOffset>("linked_at")));
        }

        return TypedResults.Ok(identities);
    }

    internal static async Task<Results<NoContent, ProblemHttpResult>> UnlinkAsync(
        long identityId, HttpContext http, NpgsqlDataSource db, TimeProvider time, CancellationToken cancellationToken)
    {
        var userId = http.User.UserId();
        var now = time.GetUtcNow();
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);

        // The account row is locked first, so two concurrent unlinks of its last two identities
        // count one after the other and the second is refused.
        await using var check = new NpgsqlCommand(CheckSql, connection).With("user_id", userId).With("identity_id", identityId);
        await using var reader = await check.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken) || reader.Get<string?>("provider") is not { } provider)
        {
            return Problems.NotFound("Identity");
        }

        var (hasPassword, others, email) = (reader.Get<bool>("has_password"), reader.Get<long>("others"), reader.Get<string?>("email"));
        await reader.CloseAsync();
        if (!hasPassword && others == 0)
        {
            return Problems.Conflict("Last way to sign in.", "This account has no password and no other identity provider; set a password or link another provider first.");
        }

        await using (var delete = new NpgsqlCommand("delete from external_identity where external_identity_id = @identity_id", connection).With("identity_id", identityId))
        {
            await delete.ExecuteNonQueryAsync(cancellationToken);
        }

        await AuditLog.RecordAsync(connection, userId, "user.external_identity_unlinked", "external_identity", identityId, new { provider, email }, null, now, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return TypedResults.NoContent();
    }

    internal static async Task<Results<Ok<LinkStart>, ProblemHttpResult>> StartLinkAsync(
        string provider, LinkRequest request, HttpContext http, NpgsqlDataSource db, IOptions<ExternalLoginOptions> options, TimeProvider time,
        CancellationToken cancellationToken)
    {
        if (options.Value.Find(provider) is null)
        {
            return Problems.NotFound("Provider");
        }

        if (!options.Value.Allows(request.RedirectUri))
        {
            return Problems.Field("redirect_uri", "Must be one of the allowed redirect URIs (ExternalLogin:RedirectUris), exactly.");
        }

        var now = time.GetUtcNow();
        var ticket = RandomNumberGenerator.GetBytes(32);
        var expiresAt = now.AddSeconds(options.Value.LinkTicketSeconds);
        await using (var insert = db.CreateCommand(InsertTicketSql))
        {
            insert.With("grant_hash", SHA256.HashData(ticket)).With("user_id", http.User.UserId()).With("provider", provider).With("now", now)
                .With("expires_at", expiresAt);
            await insert.ExecuteNonQueryAsync(cancellationToken);
        }

        var url = QueryHelpers.AddQueryString(ExternalProviderServices.StartPathOf(provider), new Dictionary<string, string?>
        {
            ["redirect_uri"] = request.RedirectUri,
            ["link_ticket"] = WebEncoders.Base64UrlEncode(ticket),
        });
        return TypedResults.Ok(new LinkStart(url, expiresAt));
    }

    private const string ListSql = """
        select external_identity_id, provider, email, linked_at
        from external_identity
        where app_user_id = @user_id
        order by external_identity_id
        """;

    // One row while the account exists; provider is null when the identity is not the account's.
    private const string CheckSql = """
        select u.password_hash is not null as has_password,
               (select i.provider from external_identity i where i.external_identity_id = @identity_id and i.app_user_id = u.app_user_id) as provider,
               (select i.email from external_identity i where i.external_identity_id = @identity_id and i.app_user_id = u.app_user_id) as email,
               (select count(*) from external_identity i where i.app_user_id = u.app_user_id and i.external_identity_id <> @identity_id) as others
        from app_user u
        where u.app_user_id = @user_id
        for update of u
        """;

    private const string InsertTicketSql = """
        insert into external_grant (grant_hash, purpose, app_user_id, provider, created_at, expires_at)
        values (@grant_hash, 'link', @user_id, @provider, @now, @expires_at)
        """;
}

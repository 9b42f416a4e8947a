using System.ComponentModel.DataAnnotations;
using Carter;
using Holdfast.Features.Jobs;
using Holdfast.Features.Notifications;
using Holdfast.Infrastructure;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Email;
using Holdfast.Infrastructure.Http;
using Holdfast.Infrastructure.Jobs;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Holdfast.Features.Newsletter;

/// <summary>Settings under <c>Newsletter</c> in configuration.</summary>
public sealed class NewsletterOptions
{
    /// <summary>Where links in emails point (default <c>http://127.0.0.1:8080</c>).</summary>
    [Required, RegularExpression("https?://.+", ErrorMessage = "{0} must be an absolute http or https URL.")]
    public string PublicBaseUrl { get; set; } = "http://127.0.0.1:8080";

    /// <summary>Subscribers queued per dispatch job (default 500).</summary>
    [Range(1, 10_000)]
    public int BatchSize { get; set; } = 500;
}

/// <summary>
/// The newsletter for the public: <c>POST /newsletter/subscriptions</c> (double opt-in: always 202,
/// a confirmation email follows), <c>GET /newsletter/confirm?token=</c>, and unsubscribe by link:
/// <c>GET /newsletter/unsubscribe?token=</c> shows a button, <c>POST</c> unsubscribes, which is also the
/// RFC 8058 one-click target of every issue's <c>List-Unsubscribe</c> header. GET never unsubscribes,
/// because mail scanners follow links.
/// </summary>
public sealed class NewsletterSubscriptions : ICarterModule
{
    /// <summary>Token purposes.</summary>
    internal const string ConfirmPurpose = "newsletter-confirm";

    /// <summary>Token purposes.</summary>
    internal const string UnsubscribePurpose = "newsletter-unsubscribe";

    /// <summary>The address to subscribe.</summary>
    public sealed record Request(string? Email);

    /// <summary>A subscription's state after the call.</summary>
    public sealed record Status(string State);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/newsletter").WithTags("Newsletter");
        group.MapPost("/subscriptions", SubscribeAsync).WithSummary("Subscribe (double opt-in)")
            .WithDescription("Always 202 for a valid address, so it reveals nothing; a confirmation email follows unless already confirmed.");
        group.MapGet("/confirm", ConfirmAsync).WithSummary("Confirm a subscription from the emailed link");
        group.MapGet("/unsubscribe", (string? token) => TypedResults.Content(
            $"<!doctype html><meta charset=utf-8><title>Unsubscribe</title><form method=post><p>Stop receiving the Holdfast newsletter?</p>" +
            $"<input type=hidden name=List-Unsubscribe value=One-Click><button>Unsubscribe</button></form>", "text/html"))
            .WithSummary("The unsubscribe page (a button; GET never unsubscribes)")
            .Produces<string>(StatusCodes.Status200OK, "text/html");
        group.MapPost("/unsubscribe", UnsubscribeAsync).WithSummary("Unsubscribe (RFC 8058 one-click target)").DisableAntiforgery();
    }

    internal static async Task<Results<Accepted, ValidationProblem>> SubscribeAsync(
        Request request, NpgsqlDataSource db, JobOutbox outbox, TimeProvider time, CancellationToken cancellationToken)
    {
        var email = request.Email?.Trim() ?? "";
        if (!Accounts.Register.IsEmail(email))
        {
            return new Validation().Add("email", "Must be an email address such as ana@example.com.").Problem();
        }

        var now = time.GetUtcNow();
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using var command = new NpgsqlCommand(SubscribeSql, connection);
        command.With("email", email);
        command.With("now", now);
        if (await command.ExecuteScalarAsync(cancellationToken) is long id)
        {
            await outbox.EnqueueAsync(connection, NewsletterEmailArgs.Confirm(id), cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        return TypedResults.Accepted((string?)null);
    }

    internal static Task<Results<Ok<Status>, ValidationProblem>> ConfirmAsync(
        string? token, NpgsqlDataSource db, LinkTokens tokens, TimeProvider time, CancellationToken cancellationToken) =>
        ChangeAsync(tokens.Verify(ConfirmPurpose, token), ConfirmSql, "confirmed", db, time, cancellationToken);

    internal static Task<Results<Ok<Status>, ValidationProblem>> UnsubscribeAsync(
        string? token, NpgsqlDataSource db, LinkTokens tokens, TimeProvider time, CancellationToken cancellationToken) =>
        ChangeAsync(tokens.Verify(UnsubscribePurpose, token), UnsubscribeSql, "unsubscribed", db, time, cancellationToken);

    private static async Task<Results<Ok<Status>, ValidationProblem>> ChangeAsync(
        long? id, string sql, string state, NpgsqlDataSource db, TimeProvider time, CancellationToken cancellationToken)
    {
        if (id is null)
        {
            return new Validation().Add("token", "This link is not valid; use the latest one we emailed.").Problem();
        }

        await using var command = db.CreateCommand(sql);
        command.With("id", id.Value);
        command.With("now", time.GetUtcNow());
        await command.ExecuteNonQueryAsync(cancellationToken);
        return TypedResults.Ok(new Status(state));
    }

    // Returns the id when a confirmation email should go out (new, pending or previously unsubscribed).
    private const string SubscribeSql = """
        insert into newsletter_subscriber (email, status, created_at) values (@email, 'pending', @now)
        on conflict (lower(email)) do update
          set status = case when newsletter_subscriber.status = 'confirmed' then 'confirmed' else 'pending' end
        returning case when status = 'pending' then newsletter_subscriber_id end
        """;

    private const string ConfirmSql = """
        update newsletter_subscriber set status = 'confirmed', confirmed_at = @now
        where newsletter_subscriber_id = @id and status = 'pending'
        """;

    private const string UnsubscribeSql = """
        update newsletter_subscriber set status = 'unsubscribed', unsubscribed_at = @now
        where newsletter_subscriber_id = @id and status <> 'unsubscribed'
        """;
}

/// <summary>
/// Admins send an issue (<c>POST /admin/newsletters</c>) and watch it go out
/// (<c>GET /admin/newsletters/{id}</c>): a <c>newsletter.dispatch</c> job queues one email job per
/// confirmed subscriber, a batch at a time, and re-enqueues itself until all are queued.
/// </summary>
public sealed class NewsletterIssues : ICarterModule
{
    /// <summary>The issue.</summary>
    public sealed record Request(string? Subject, string? Body);

    /// <summary>Progress of an issue.</summary>
    /// <param name="IssueId">The issue.</param>
    /// <param name="Subject">Its subject.</param>
    /// <param name="Status"><c>sending</c> while batches are being queued, then <c>queued</c>.</param>
    /// <param name="Queued">Emails queued so far.</param>
    /// <param name="Sent">Emails delivered to the mail server.</param>
    /// <param name="Failed">Emails given up on.</param>
    public sealed record Progress(long IssueId, string Subject, string Status, int Queued, long Sent, long Failed);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app)
    {
        var admin = app.MapGroup("/admin").RequireAuthorization(Roles.Admin).WithTags("Newsletter");
        admin.MapPost("/newsletters", SendAsync).AcceptsBodyUpTo(1024 * 1024).WithSummary("Send a newsletter issue to every confirmed subscriber");
        admin.MapGet("/newsletters/{issueId:long}", ProgressAsync).WithSummary("How far an issue has gone out");
    }

    internal static async Task<Results<Accepted<Progress>, ValidationProblem>> SendAsync(
        Request request, HttpContext http, NpgsqlDataSource db, JobOutbox outbox, TimeProvider time, CancellationToken cancellationToken)
    {
        var validation = new Validation()
            .Require(request.Subject is { Length: >= 1 and <= 200 }, "subject", "Required: 1 to 200 characters.")
            .Require(request.Body is { Length: >= 1 and <= 50000 }, "body", "Required: 1 to 50000 characters.");
        if (!validation.IsValid)
        {
            return validation.Problem();
        }

        var now = time.GetUtcNow();
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using var insert = new NpgsqlCommand(
            "insert into newsletter_issue (subject, body, created_by, created_at) values (@subject, @body, @user_id, @now) returning newsletter_issue_id", connection);
        insert.With("subject", request.Subject!);
        insert.With("body", request.Body!);
        insert.With("user_id", http.User.UserId());
        insert.With("now", now);
        var issueId = (long)(await insert.ExecuteScalarAsync(cancellationToken))!;
        await outbox.EnqueueAsync(connection, new NewsletterDispatchArgs(issueId, 0), cancellationToken);
        await AuditLog.RecordAsync(connection, http.User.UserId(), "newsletter.sent", "newsletter_issue", issueId, null, new { request.Subject }, now, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return TypedResults.Accepted($"/admin/newsletters/{issueId}", new Progress(issueId, request.Subject!, "sending", 0, 0, 0));
    }

    internal static async Task<Results<Ok<Progress>, ProblemHttpResult>> ProgressAsync(long issueId, NpgsqlDataSource db, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand(ProgressSql);
        command.With("issue_id", issueId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? TypedResults.Ok(new Progress(issueId, reader.Get<string>("subject"), reader.Get<string>("status"), reader.Get<int>("queued"), reader.Get<long>("completed"), reader.Get<long>("discarded")))
            : Problems.NotFound("Newsletter issue");
    }

    private static readonly string ProgressSql = $$"""
        select i.subject, i.status, i.queued, sent.completed, sent.discarded
        from newsletter_issue i
        cross join lateral (
          select count(*) filter (where state = 'completed') as completed, count(*) filter (where state = 'discarded') as discarded
          from job where {{JobSql.IsKind<NewsletterEmailArgs>()}} and unique_key like 'newsletter:' || i.newsletter_issue_id || ':%'
        ) sent
        where i.newsletter_issue_id = @issue_id
        """;
}

/// <summary>The <c>newsletter.dispatch</c> job: queues the next batch of an issue's emails.</summary>
public sealed class DispatchNewsletter(NpgsqlDataSource db, JobOutbox outbox, IOptions<NewsletterOptions> options, TimeProvider time) : JobHandler<NewsletterDispatchArgs>
{
    /// <inheritdoc />
    public override async Task HandleAsync(JobContext job, NewsletterDispatchArgs args, CancellationToken cancellationToken)
    {
        var issueId = args.IssueId;
        var now = time.GetUtcNow();
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using var batch = new NpgsqlCommand(BatchSql, connection);
        batch.With("issue_id", issueId);
        batch.With("batch", options.Value.BatchSize);
        batch.With("now", now);
        long? cursor = null;
        var queued = 0;
        await using (var reader = await batch.ExecuteReaderAsync(cancellationToken))
        {
            if (await reader.ReadAsync(cancellationToken))
            {
                (queued, cursor) = (reader.Get<int>("queued"), reader.Get<long?>("cursor_id"));
            }
        }

        if (queued == options.Value.BatchSize && cursor is { } next)
        {
            await outbox.EnqueueAsync(connection, new NewsletterDispatchArgs(issueId, next), cancellationToken);
        }
        else
        {
            await using var done = new NpgsqlCommand("update newsletter_issue set status = 'queued' where newsletter_issue_id = @issue_id", connection);
            done.With("issue_id", issueId);
            await done.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
    }

    // The issue row lock makes a re-run of the same batch (a retried job) continue from the saved cursor.
    private static readonly string BatchSql = $$"""
        with issue as (
          select newsletter_issue_id, cursor_id from newsletter_issue where newsletter_issue_id = @issue_id for update
        ), batch as (
          select s.newsletter_subscriber_id from newsletter_subscriber s, issue
          where s.status = 'confirmed' and s.newsletter_subscriber_id > issue.cursor_id
          order by s.newsletter_subscriber_id limit @batch
        ), queued as (
          {{JobSql.Insert<NewsletterEmailArgs>(
              "select 'newsletter_issue' as template, newsletter_subscriber_id as subscriber_id, @issue_id::bigint as issue_id, @now as run_at, @now as created_at from batch")}}
        ), progressed as (
          update newsletter_issue i set cursor_id = coalesce((select max(newsletter_subscriber_id) from batch), i.cursor_id),
                                        queued = i.queued + (select count(*) from batch)
          from issue where i.newsletter_issue_id = issue.newsletter_issue_id
        )
        select (select count(*)::int from batch) as queued, (select max(newsletter_subscriber_id) from batch) as cursor_id
        """;
}

/// <summary>
/// The <c>newsletter.email</c> job: one confirmation or issue email to one subscriber, rendered with
/// <see cref="EmailTemplates"/> and sent. This folder decides who gets newsletter emails and builds
/// their links; Notifications only renders them. An issue goes only to subscribers still confirmed
/// when their email's turn comes.
/// </summary>
public sealed class NewsletterEmail(NpgsqlDataSource db, IEmailSender sender, LinkTokens links, IOptions<NewsletterOptions> options) : JobHandler<NewsletterEmailArgs>
{
    /// <inheritdoc />
    public override async Task HandleAsync(JobContext job, NewsletterEmailArgs args, CancellationToken cancellationToken)
    {
        EmailMessage? message = args.Template switch
        {
            "newsletter_confirm" => await ConfirmAsync(args.SubscriberId, cancellationToken),
            "newsletter_issue" => await IssueAsync(args.SubscriberId, args.IssueId ?? throw new PermanentJobException("Malformed newsletter.email payload, discarded: no issue_id."),
                cancellationToken),
            _ => throw new PermanentJobException($"Unknown newsletter template '{args.Template}'."),
        };
        if (message is not null)
        {
            await sender.SendAsync(message, cancellationToken);
        }
    }

    private Uri Link(string path, string purpose, long id) =>
        new($"{options.Value.PublicBaseUrl.TrimEnd('/')}{path}?token={links.Create(purpose, id)}");

    private async Task<EmailMessage?> ConfirmAsync(long id, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand("select email from newsletter_subscriber where newsletter_subscriber_id = @id and status = 'pending'").With("id", id);
        return await command.ExecuteScalarAsync(cancellationToken) is string email
            ? EmailTemplates.NewsletterConfirm(email, Link("/newsletter/confirm", NewsletterSubscriptions.ConfirmPurpose, id))
            : null;
    }

    private async Task<EmailMessage?> IssueAsync(long id, long issueId, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand("""
            select s.email, i.subject, i.body
            from newsletter_subscriber s, newsletter_issue i
            where s.newsletter_subscriber_id = @id and s.status = 'confirmed' and i.newsletter_issue_id = @issue_id
            """).With("id", id).With("issue_id", issueId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? EmailTemplates.Newsletter(reader.Get<string>("email"), reader.Get<string>("subject"), reader.Get<string>("body"),
                Link("/newsletter/unsubscribe", NewsletterSubscriptions.UnsubscribePurpose, id))
            : null;
    }
}

/// <summary>Registers <see cref="NewsletterOptions"/>.</summary>
public sealed class NewsletterServices : IConfigureServices
{
    /// <inheritdoc />
    public void ConfigureServices(IServiceCollection services, IConfiguration configuration) =>
        services.AddSettings<NewsletterOptions>("Newsletter");
}

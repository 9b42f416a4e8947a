using Carter;
using Holdfast.Features.Catalogue;
using Holdfast.Features.Jobs;
using Holdfast.Features.Push;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Holdfast.Infrastructure.Jobs;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace Holdfast.Features.Shows;

/// <summary>
/// <c>POST /shows/{id}/notices</c>: the owning organizer or an admin tells everyone booked on a
/// show something (this slice decides who is told; Notifications renders and sends) (a delay, a gate change), by email and by push, one job per booking and browser.
/// </summary>
public sealed class SendNotice : ICarterModule
{
    /// <summary>The notice.</summary>
    /// <param name="Subject">1–200 characters.</param>
    /// <param name="Message">1–5000 characters; blank lines separate paragraphs.</param>
    public sealed record Request(string? Subject, string? Message);

    /// <summary>What was queued.</summary>
    /// <param name="NoticeId">The notice.</param>
    /// <param name="Bookings">Confirmed bookings it goes to (one email each).</param>
    /// <param name="Pushes">Browser subscriptions it goes to.</param>
    public sealed record Response(long NoticeId, int Bookings, int Pushes);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app) =>
        app.MapPost("/shows/{showId:long}/notices", HandleAsync)
            .RequireAuthorization(Roles.Organizer)
            .WithTags("Notifications")
            .WithSummary("Tell everyone booked on a show")
            .WithDescription("The owning organizer or an admin. 202 with what was queued; 400 names a bad field; 404 when the show is not yours.");

    internal static async Task<Results<Accepted<Response>, ValidationProblem, ProblemHttpResult>> HandleAsync(
        long showId, Request request, HttpContext http, NpgsqlDataSource db, JobOutbox outbox, TimeProvider time, CancellationToken cancellationToken)
    {
        var validation = new Validation()
            .Require(request.Subject is { Length: >= 1 and <= 200 }, "subject", "Required: 1 to 200 characters.")
            .Require(request.Message is { Length: >= 1 and <= 5000 }, "message", "Required: 1 to 5000 characters.");
        if (!validation.IsValid)
        {
            return validation.Problem();
        }

        var now = time.GetUtcNow();
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using var command = new NpgsqlCommand(QueueSql, connection);
        command.With("show_id", showId);
        ShowOwnership.Bind(command.Parameters, http.User);
        command.With("subject", request.Subject!);
        command.With("message", request.Message!);
        command.With("now", now);
        Response? response = null;
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            if (await reader.ReadAsync(cancellationToken) && reader.Get<long?>("notice_id") is { } noticeId)
            {
                response = new Response(noticeId, reader.Get<int>("bookings"), reader.Get<int>("pushes"));
            }
        }

        if (response is null)
        {
            return Problems.NotFound("Show");
        }

        await AuditLog.RecordAsync(connection, http.User.UserId(), "show.notice_sent", "show", showId, null, new { response.NoticeId, request.Subject }, now, cancellationToken);
        await outbox.WakeAsync(connection, "default", cancellationToken); // the email and push jobs QueueSql queued
        await transaction.CommitAsync(cancellationToken);
        return TypedResults.Accepted($"/shows/{showId}", response);
    }

    // The notice, one email job per confirmed booking and one push job per subscription of those customers.
    private static readonly string QueueSql = $$"""
        with target as (
          select s.show_id, e.title
          from show s join venue v on v.venue_id = s.venue_id join event e on e.event_id = s.event_id
          where s.show_id = @show_id and {{ShowOwnership.Condition}}
        ), notice as (
          insert into show_notice (show_id, subject, message, created_by, created_at)
          select show_id, @subject, @message, @user_id, @now from target
          returning show_notice_id
        ), bookings as (
          select b.booking_id, b.app_user_id from booking b, target where b.show_id = target.show_id and b.status = 'confirmed'
        ), emails as (
          {{JobSql.Insert<EmailArgs>(
              "select 'notice' as template, b.booking_id, n.show_notice_id as notice_id, @now as run_at, @now as created_at from bookings b, notice n",
              true, "template", "booking_id", "notice_id")}}
          returning 1
        ), pushes as (
          {{JobSql.Insert<PushArgs>(
              "select p.push_subscription_id, @subject || ': ' || t.title as title, left(@message, 200) as body, '/bookings/' || b.booking_id as url, " +
              "86400 as ttl_seconds, 'high' as urgency, @now as run_at, @now as created_at " +
              "from bookings b join push_subscription p on p.app_user_id = b.app_user_id, target t",
              skipDuplicates: false)}}
          returning 1
        )
        select (select show_notice_id from notice) as notice_id, (select count(*)::int from emails) as bookings, (select count(*)::int from pushes) as pushes
        """;
}

using Carter;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Holdfast.Infrastructure.Sms;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Holdfast.Features.Accounts;

/// <summary>
/// <c>POST /sms/twilio/inbound</c>: Twilio's incoming-message webhook. A request whose
/// <c>X-Twilio-Signature</c> does not match (<see cref="TwilioSignature"/>) is refused; a STOP
/// keyword (STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, as Twilio's own opt-out handling knows
/// them) turns every kind of SMS off for every account with that number. The answer is empty
/// TwiML, so Twilio sends no reply of ours (it sends its own opt-out confirmation).
/// </summary>
public sealed class SmsInbound : ICarterModule
{
    private static readonly HashSet<string> StopWords = new(StringComparer.OrdinalIgnoreCase) { "STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT" };

    /// <summary>Empty TwiML: no reply message.</summary>
    public const string EmptyTwiml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>";

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app) =>
        app.MapPost("/sms/twilio/inbound", HandleAsync)
            .Produces<string>(StatusCodes.Status200OK, "text/xml")
            .DeclaresProblem(StatusCodes.Status403Forbidden, "The X-Twilio-Signature is missing or wrong, or no Twilio auth token is configured.")
            .AcceptsBodyUpTo(64 * 1024)
            .WithTags("Accounts")
            .WithSummary("Twilio incoming-message webhook (STOP)")
            .WithDescription("Form-encoded as Twilio posts it (From, Body, …), signed with X-Twilio-Signature. 200 with empty TwiML; a STOP keyword turns off " +
                             "every kind of SMS for that number. 403 when the signature does not check out.")
            .DisableAntiforgery();

    internal static async Task<Results<ContentHttpResult, ProblemHttpResult>> HandleAsync(
        HttpRequest request, NpgsqlDataSource db, IOptions<SmsOptions> options, TimeProvider time, ILogger<SmsInbound> logger, CancellationToken cancellationToken)
    {
        var token = options.Value.TwilioAuthToken;
        var form = request.HasFormContentType ? await request.ReadFormAsync(cancellationToken) : null;
        var fields = form?.SelectMany(f => f.Value.Select(v => new KeyValuePair<string, string>(f.Key, v ?? ""))).ToList() ?? [];
        var url = options.Value.TwilioWebhookUrl ?? $"{request.Scheme}://{request.Host}{request.PathBase}{request.Path}{request.QueryString}";
        if (string.IsNullOrEmpty(token) || !TwilioSignature.IsValid(token, url, fields, request.Headers["X-Twilio-Signature"].FirstOrDefault()))
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Invalid signature.",
                detail: "X-Twilio-Signature does not match this URL and form with the configured auth token.");
        }

        var from = form?["From"].ToString();
        var body = form?["Body"].ToString().Trim() ?? "";
        if (!string.IsNullOrEmpty(from) && StopWords.Contains(body))
        {
            await using var connection = await db.OpenConnectionAsync(cancellationToken);
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            var now = time.GetUtcNow();
            var accounts = new List<long>();
            await using (var stop = new NpgsqlCommand(StopSql, connection).With("phone_number", from).With("now", now))
            await using (var reader = await stop.ExecuteReaderAsync(cancellationToken))
            {
                while (await reader.ReadAsync(cancellationToken))
                {
                    accounts.Add(reader.Get<long>("app_user_id"));
                }
            }

            foreach (var account in accounts)
            {
                await AuditLog.RecordAsync(connection, null, "user.sms_stopped", "customer_phone", account, null,
                    new { confirmation = false, reminder = false, show_changes = false }, now, cancellationToken);
            }

            await transaction.CommitAsync(cancellationToken);
            logger.LogInformation("SMS STOP received: {Count} account(s) opted out of every kind", accounts.Count);
        }

        return TypedResults.Content(EmptyTwiml, "text/xml");
    }

    private const string StopSql = """
        update customer_phone
        set notify_confirmation = false, notify_reminder = false, notify_show_changes = false, updated_at = @now
        where phone_number = @phone_number
        returning app_user_id
        """;
}

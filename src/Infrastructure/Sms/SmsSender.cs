using System.ComponentModel.DataAnnotations;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Holdfast.Infrastructure.Jobs;
using Microsoft.Extensions.Options;

namespace Holdfast.Infrastructure.Sms;

/// <summary>Settings under <c>Sms</c> in configuration.</summary>
public sealed class SmsOptions : IValidatableObject
{
    /// <summary><c>pickup</c> (default: write one .txt file per message to <see cref="PickupDirectory"/>) or <c>twilio</c>.</summary>
    [RegularExpression("pickup|twilio", ErrorMessage = "{0} must be pickup or twilio.")]
    public string Mode { get; set; } = "pickup";

    /// <summary>Folder for messages in pickup mode; relative to the working directory (default <c>.data/sms</c>, git-ignored).</summary>
    public string PickupDirectory { get; set; } = ".data/sms";

    /// <summary>Twilio's REST API base URL (default <c>https://api.twilio.com</c>; a local fake in tests).</summary>
    public string TwilioBaseUrl { get; set; } = "https://api.twilio.com";

    /// <summary>The Twilio account SID (<c>AC…</c>); the user name of HTTP basic authentication.</summary>
    public string? TwilioAccountSid { get; set; }

    /// <summary>The Twilio auth token: the password of basic authentication and the key of webhook signatures. Never logged.</summary>
    public string? TwilioAuthToken { get; set; }

    /// <summary>The sender number (E.164) — or leave it empty and set <see cref="TwilioMessagingServiceSid"/>.</summary>
    public string? TwilioFrom { get; set; }

    /// <summary>A Messaging Service SID (<c>MG…</c>) to send from instead of <see cref="TwilioFrom"/>.</summary>
    public string? TwilioMessagingServiceSid { get; set; }

    /// <summary>
    /// The public URL Twilio posts inbound messages to (<c>https://api.example/sms/twilio/inbound</c>),
    /// which the signature covers. Unset: the URL of the request as this app received it (right
    /// when no proxy rewrites scheme, host or path).
    /// </summary>
    public string? TwilioWebhookUrl { get; set; }

    /// <summary>The most one send may take, in seconds (default 15), well under the job lease.</summary>
    [Range(1, 120)]
    public int TimeoutSeconds { get; set; } = 15;

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Mode == "twilio")
        {
            if (string.IsNullOrWhiteSpace(TwilioAccountSid))
            {
                yield return new ValidationResult("is required when Mode is twilio.", [nameof(TwilioAccountSid)]);
            }

            if (string.IsNullOrWhiteSpace(TwilioAuthToken))
            {
                yield return new ValidationResult("is required when Mode is twilio.", [nameof(TwilioAuthToken)]);
            }

            if (string.IsNullOrWhiteSpace(TwilioFrom) == string.IsNullOrWhiteSpace(TwilioMessagingServiceSid))
            {
                yield return new ValidationResult("one of TwilioFrom and TwilioMessagingServiceSid is required when Mode is twilio.", [nameof(TwilioFrom)]);
            }

            if (!Uri.TryCreate(TwilioBaseUrl, UriKind.Absolute, out _))
            {
                yield return new ValidationResult("must be an absolute URL.", [nameof(TwilioBaseUrl)]);
            }
        }

        if (Mode == "pickup" && string.IsNullOrWhiteSpace(PickupDirectory))
        {
            yield return new ValidationResult("is required when Mode is pickup.", [nameof(PickupDirectory)]);
        }
    }
}

/// <summary>A text message.</summary>
/// <param name="To">Recipient, E.164 (<c>+447700900123</c>).</param>
/// <param name="Body">The text; see <see cref="SmsText.Measure"/> for what one segment holds.</param>
public sealed record SmsMessage(string To, string Body);

/// <summary>What the sender did with a message.</summary>
/// <param name="Id">The provider's id (Twilio <c>SM…</c>), or the pickup file name.</param>
/// <param name="Segments">Segments it is billed and sent as.</param>
/// <param name="Encoding"><c>GSM-7</c> or <c>UCS-2</c>.</param>
public sealed record SmsReceipt(string Id, int Segments, string Encoding);

/// <summary>Sends text messages. Only jobs call it, so a failed send is retried by the job engine.</summary>
public interface ISmsSender
{
    /// <summary>Sends <paramref name="message"/>.</summary>
    /// <exception cref="PermanentJobException">The provider refused for good (a 4xx other than 401, 408 and 429: a bad number, an unsubscribed recipient).</exception>
    /// <exception cref="HttpRequestException">The provider failed or is unreachable (5xx, 401, 408, 429, a network error): try again later.</exception>
    /// <exception cref="TimeoutException">No answer within <see cref="SmsOptions.TimeoutSeconds"/>: try again later.</exception>
    Task<SmsReceipt> SendAsync(SmsMessage message, CancellationToken cancellationToken);
}

/// <summary>
/// <see cref="ISmsSender"/> on Twilio's Messages API (<c>POST /2010-04-01/Accounts/{sid}/Messages.json</c>,
/// form fields <c>To</c>, <c>From</c> or <c>MessagingServiceSid</c>, <c>Body</c>; HTTP basic
/// authentication with the account SID and auth token), spoken directly over <see cref="HttpClient"/>;
/// or, in pickup mode, one UTF-8 <c>.txt</c> file per message.
/// </summary>
public sealed class TwilioSmsSender(HttpClient http, IOptions<SmsOptions> options) : ISmsSender
{
    /// <inheritdoc />
    public async Task<SmsReceipt> SendAsync(SmsMessage message, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var measure = SmsText.Measure(message.Body);
        if (settings.Mode != "twilio")
        {
            return await WritePickupAsync(settings, message, measure, cancellationToken);
        }

        var form = new List<KeyValuePair<string, string>> { new("To", message.To), new("Body", message.Body) };
        form.Add(string.IsNullOrWhiteSpace(settings.TwilioMessagingServiceSid)
            ? new("From", settings.TwilioFrom!)
            : new("MessagingServiceSid", settings.TwilioMessagingServiceSid));
        var url = $"{settings.TwilioBaseUrl.TrimEnd('/')}/2010-04-01/Accounts/{Uri.EscapeDataString(settings.TwilioAccountSid!)}/Messages.json";
        using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new FormUrlEncodedContent(form) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic",
            Convert.ToBase64String(Encoding.UTF8.GetBytes($"{settings.TwilioAccountSid}:{settings.TwilioAuthToken}")));
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(TimeSpan.FromSeconds(settings.TimeoutSeconds));
        HttpResponseMessage response;
        string text;
        try
        {
            response = await http.SendAsync(request, deadline.Token);
            text = await response.Content.ReadAsStringAsync(deadline.Token);
        }
        catch (OperationCanceledException ex) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"Twilio did not answer within {settings.TimeoutSeconds} s.", ex);
        }

        using (response)
        {
            if (response.IsSuccessStatusCode)
            {
                using var json = JsonDocument.Parse(text);
                var sid = json.RootElement.TryGetProperty("sid", out var s) ? s.GetString() ?? "" : "";
                var segments = json.RootElement.TryGetProperty("num_segments", out var n) && int.TryParse(n.ToString(), out var count) ? count : measure.Segments;
                return new SmsReceipt(sid, segments, measure.Encoding);
            }

            // Twilio's error body: {"code": 21211, "message": "...", "status": 400}. It names the
            // number and the reason, never the token.
            var reason = $"Twilio answered {(int)response.StatusCode}: {Describe(text)}";
            if ((int)response.StatusCode is >= 400 and < 500 && response.StatusCode is not (HttpStatusCode.Unauthorized or HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests))
            {
                throw new PermanentJobException(reason);
            }

            throw new HttpRequestException(reason, null, response.StatusCode);
        }
    }

    private static string Describe(string body)
    {
        try
        {
            using var json = JsonDocument.Parse(body);
            var code = json.RootElement.TryGetProperty("code", out var c) ? c.ToString() : "?";
            var message = json.RootElement.TryGetProperty("message", out var m) ? m.GetString() : null;
            return $"{code} {message}";
        }
        catch (JsonException)
        {
            return body.Length > 200 ? body[..200] : body;
        }
    }

    // Written under a temporary name and renamed, so a reader of the folder never sees half a file.
    private static async Task<SmsReceipt> WritePickupAsync(SmsOptions settings, SmsMessage message, SmsText.Measurement measure, CancellationToken cancellationToken)
    {
        var folder = Path.GetFullPath(settings.PickupDirectory);
        Directory.CreateDirectory(folder);
        var name = Guid.NewGuid().ToString("N");
        var partial = Path.Combine(folder, $"{name}.tmp");
        await File.WriteAllTextAsync(partial, $"To: {message.To}\nSegments: {measure.Segments} ({measure.Encoding})\n\n{message.Body}\n", cancellationToken);
        File.Move(partial, Path.Combine(folder, $"{name}.txt"));
        return new SmsReceipt(name, measure.Segments, measure.Encoding);
    }
}

/// <summary>
/// How a text travels as SMS (3GPP TS 23.038 and TS 23.040): in the GSM 7-bit default alphabet when
/// every character is in it (160 septets in one segment, 153 per segment of a longer message; a
/// character of the extension table, such as <c>€</c> or <c>[</c>, takes two), otherwise in UCS-2
/// (70 UTF-16 code units in one segment, 67 per segment of a longer one).
/// </summary>
public static class SmsText
{
    private const string Basic =
        "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
        "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";

    private const string Extension = "^{}\\[~]|€\f";

    /// <summary>A text's encoding, length in its units, and segments.</summary>
    /// <param name="Encoding"><c>GSM-7</c> or <c>UCS-2</c>.</param>
    /// <param name="Units">Septets (GSM-7) or UTF-16 code units (UCS-2).</param>
    /// <param name="Segments">Segments it is sent as (at least 1).</param>
    public sealed record Measurement(string Encoding, int Units, int Segments);

    /// <summary>Measures <paramref name="text"/>.</summary>
    public static Measurement Measure(string text)
    {
        var septets = 0;
        foreach (var c in text)
        {
            if (Basic.Contains(c, StringComparison.Ordinal))
            {
                septets++;
            }
            else if (Extension.Contains(c, StringComparison.Ordinal))
            {
                septets += 2;
            }
            else
            {
                return new Measurement("UCS-2", text.Length, text.Length <= 70 ? 1 : (text.Length + 66) / 67);
            }
        }

        return new Measurement("GSM-7", septets, septets <= 160 ? 1 : (septets + 152) / 153);
    }

    /// <summary>
    /// <paramref name="text"/> cut to fit one segment (160 septets in GSM-7, 70 code units in UCS-2),
    /// ending in "..." (three GSM-7 dots, not the UCS-2 ellipsis) when cut; unchanged when it fits.
    /// </summary>
    public static string FitOneSegment(string text)
    {
        var measure = Measure(text);
        if (measure.Segments == 1)
        {
            return text;
        }

        var limit = measure.Encoding == "GSM-7" ? 160 : 70;
        var cut = text;
        while (cut.Length > 0 && Measure(cut + "...").Units > limit)
        {
            cut = cut[..^1];
        }

        return cut.TrimEnd() + "...";
    }
}

/// <summary>
/// Twilio's webhook signature (https://www.twilio.com/docs/usage/security#validating-requests):
/// base64 of HMAC-SHA1, keyed with the auth token, over the full URL followed by each POST
/// parameter's name and value, sorted by name (ordinal), with nothing between them.
/// </summary>
public static class TwilioSignature
{
    /// <summary>The signature Twilio sends in <c>X-Twilio-Signature</c> for <paramref name="url"/> and <paramref name="form"/>.</summary>
    public static string Compute(string authToken, string url, IEnumerable<KeyValuePair<string, string>> form)
    {
        var data = new StringBuilder(url);
        foreach (var (key, value) in form.OrderBy(p => p.Key, StringComparer.Ordinal).ThenBy(p => p.Value, StringComparer.Ordinal))
        {
            data.Append(key).Append(value);
        }

#pragma warning disable CA5350 // Twilio's protocol fixes HMAC-SHA1; as an HMAC it is not weakened by SHA-1's collisions.
        return Convert.ToBase64String(HMACSHA1.HashData(Encoding.UTF8.GetBytes(authToken), Encoding.UTF8.GetBytes(data.ToString())));
#pragma warning restore CA5350
    }

    /// <summary>True when <paramref name="signature"/> is the one for <paramref name="url"/> and <paramref name="form"/> (compared in constant time).</summary>
    public static bool IsValid(string authToken, string url, IEnumerable<KeyValuePair<string, string>> form, string? signature)
    {
        if (string.IsNullOrEmpty(signature))
        {
            return false;
        }

        var expected = Encoding.ASCII.GetBytes(Compute(authToken, url, form));
        return CryptographicOperations.FixedTimeEquals(expected, Encoding.ASCII.GetBytes(signature));
    }
}

/// <summary>Registers <see cref="ISmsSender"/> and its settings.</summary>
public static class SmsSetup
{
    /// <summary>Adds <see cref="SmsOptions"/> (section <c>Sms</c>) and <see cref="TwilioSmsSender"/> on a typed <see cref="HttpClient"/>.</summary>
    public static IServiceCollection AddHoldfastSms(this IServiceCollection services)
    {
        services.AddSettings<SmsOptions>("Sms");
        services.AddHttpClient<ISmsSender, TwilioSmsSender>(client => client.Timeout = Timeout.InfiniteTimeSpan);
        return services;
    }
}

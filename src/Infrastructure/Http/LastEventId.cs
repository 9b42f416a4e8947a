using System.Globalization;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Holdfast.Infrastructure.Http;

/// <summary>
/// Where a reconnecting Server-Sent Events client left off: the <c>Last-Event-ID</c> header the
/// browser sends (WHATWG HTML §9.2.4), or <c>?last_event_id=</c> for clients that cannot set headers.
/// </summary>
public static class LastEventId
{
    /// <summary>
    /// Reads the id: null when the client sent none; a 400 problem naming <c>last_event_id</c> when
    /// it is not a non-negative integer.
    /// </summary>
    public static bool TryRead(HttpRequest request, out long? lastEventId, out ValidationProblem? problem)
    {
        var text = request.Headers["Last-Event-ID"].FirstOrDefault() ?? request.Query["last_event_id"].FirstOrDefault();
        (lastEventId, problem) = (null, null);
        if (string.IsNullOrEmpty(text))
        {
            return true;
        }

        if (!long.TryParse(text, CultureInfo.InvariantCulture, out var parsed) || parsed < 0)
        {
            problem = new Validation().Add("last_event_id", "Must be a non-negative integer: the id of the last event received.").Problem();
            return false;
        }

        lastEventId = parsed;
        return true;
    }
}

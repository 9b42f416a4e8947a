using System.Text.Json;
using Stripe;

namespace Holdfast.Infrastructure.Payments;

/// <summary>What <see cref="StripeEvents.Read"/> made of a webhook delivery.</summary>
public enum StripeEventCheck
{
    /// <summary>Signed with a configured secret, within the tolerance, and read as an event.</summary>
    Verified,

    /// <summary>No <c>Stripe-Signature</c>, or none of its <c>v1</c> signatures matches any configured secret, or its timestamp is outside the tolerance.</summary>
    BadSignature,

    /// <summary>Signed, but Stripe.net cannot read the body as a (snapshot) event.</summary>
    Unreadable,
}

/// <summary>A webhook delivery as <see cref="StripeEvents.Read"/> found it.</summary>
/// <param name="Check">The verdict.</param>
/// <param name="Event">The event when <see cref="StripeEventCheck.Verified"/>.</param>
/// <param name="Error">Why it could not be read when <see cref="StripeEventCheck.Unreadable"/> (a JSON reader's message, no secrets).</param>
public sealed record StripeEventReading(StripeEventCheck Check, Event? Event, string? Error);

/// <summary>
/// Verifies and reads Stripe webhook deliveries with Stripe.net's
/// <see cref="EventUtility.ConstructEvent(string, string, string, long, long, bool)"/>: HMAC-SHA256
/// of <c>"{t}.{body}"</c> compared in constant time with every <c>v1</c> value, <c>t</c> within the
/// tolerance of our clock (https://docs.stripe.com/webhooks#verify-manually).
/// </summary>
public static class StripeEvents
{
    /// <summary>The API version Stripe.net pins for requests and expects of events (<see cref="StripeConfiguration.ApiVersion"/>).</summary>
    public static string ApiVersion => StripeConfiguration.ApiVersion;

    /// <summary>
    /// Checks <paramref name="signatureHeader"/> against the raw <paramref name="body"/> with each of
    /// <paramref name="secrets"/> in turn (a rotation has several), at <paramref name="now"/> (from
    /// <see cref="TimeProvider"/>, so tests can move the clock), and reads the event. The API version
    /// is not checked here (see <see cref="IsPinnedVersion"/>): an event of another version or none is
    /// still <see cref="StripeEventCheck.Verified"/>.
    /// </summary>
    public static StripeEventReading Read(string body, string? signatureHeader, IReadOnlyList<string> secrets, DateTimeOffset now, int toleranceSeconds)
    {
        if (string.IsNullOrWhiteSpace(signatureHeader))
        {
            return new(StripeEventCheck.BadSignature, null, null);
        }

        foreach (var secret in secrets)
        {
            try
            {
                var stripeEvent = EventUtility.ConstructEvent(body, signatureHeader, secret, toleranceSeconds, now.ToUnixTimeSeconds(), throwOnApiVersionMismatch: false);
                return new(StripeEventCheck.Verified, stripeEvent, null);
            }
            catch (StripeException)
            {
                // Not this secret's signature, or stale, or a header Stripe.net cannot parse: try the next secret.
            }
            catch (Exception ex) when (ex is FormatException or OverflowException)
            {
                // A matching signature over a timestamp that is not a 32-bit number of seconds.
            }
            catch (Exception ex) when (ex is JsonException or InvalidOperationException or ArgumentException)
            {
                // The signature matched (it is checked first), so the body is Stripe's or someone's with our secret, but not an event.
                return new(StripeEventCheck.Unreadable, null, ex.Message);
            }
        }

        return new(StripeEventCheck.BadSignature, null, null);
    }

    /// <summary>
    /// True when <paramref name="eventApiVersion"/> is of the release train Stripe.net is built for
    /// (e.g. <c>2026-10-28.endive</c>; https://docs.stripe.com/sdks/versioning), so its objects read
    /// as Stripe.net's types. False for another train, a dated version without one (<c>2024-06-20</c>),
    /// or none.
    /// </summary>
    public static bool IsPinnedVersion(string? eventApiVersion) =>
        eventApiVersion is not null && EventUtility.IsCompatibleApiVersion(eventApiVersion);
}

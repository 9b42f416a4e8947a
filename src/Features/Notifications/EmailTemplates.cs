using System.Globalization;
using System.Net;
using Holdfast.Infrastructure.Email;

namespace Holdfast.Features.Notifications;

/// <summary>
/// Holdfast's emails, each as plain text and HTML. Times are shown in the show's own zone (the
/// origin's for a flight), as the traveller will read them on the departure board.
/// </summary>
public static class EmailTemplates
{
    /// <summary>What booking emails are about.</summary>
    /// <param name="To">Recipient address.</param>
    /// <param name="Name">The customer's display name.</param>
    /// <param name="BookingId">The booking.</param>
    /// <param name="Title">The event, e.g. "BA117 London (LHR) → New York (JFK)".</param>
    /// <param name="LocalStartsAt">Start in the show's zone, with its offset.</param>
    /// <param name="TimeZone">IANA zone name.</param>
    /// <param name="Venue">Hall, coach or cabin.</param>
    /// <param name="Seats">Seat labels.</param>
    /// <param name="TotalMinor">Amount in minor units.</param>
    /// <param name="Currency">ISO 4217.</param>
    /// <param name="Exponent">Minor-unit exponent of the currency.</param>
    public sealed record Booking(string To, string Name, long BookingId, string Title, DateTimeOffset LocalStartsAt, string TimeZone, string Venue,
        IReadOnlyList<string> Seats, long TotalMinor, string Currency, int Exponent);

    /// <summary>After registration.</summary>
    public static EmailMessage Welcome(string to, string name) => Build(to, "Welcome to Holdfast",
        $"Hello {name},\n\nyour Holdfast account is ready. Find a flight, a film or a trip, pick your seats, and they are yours.\n",
        $"<p>Hello {E(name)},</p><p>your Holdfast account is ready. Find a flight, a film or a trip, pick your seats, and they are yours.</p>");

    /// <summary>One ticket as the confirmation shows it.</summary>
    /// <param name="Seat">Seat label, e.g. "12C".</param>
    /// <param name="Code">The ticket's code (what its QR code encodes).</param>
    /// <param name="AttendeeName">Passenger or attendee, when given.</param>
    /// <param name="QrPng">The code as a QR code, PNG.</param>
    public sealed record Ticket(string Seat, string Code, string? AttendeeName, byte[] QrPng);

    /// <summary>A booking was paid and confirmed; with its tickets' QR codes inline, one per seat.</summary>
    public static EmailMessage BookingConfirmed(Booking b, IReadOnlyList<Ticket> tickets)
    {
        var images = tickets.Select((t, i) => new EmailImage($"ticket-{b.BookingId}-{i + 1}@holdfast", $"ticket-{t.Seat}.png", "image/png", t.QrPng)).ToList();
        var text = string.Join("\n", tickets.Select(t => $"Seat {t.Seat}{(t.AttendeeName is null ? "" : $", {t.AttendeeName}")}: ticket {t.Code}"));
        var html = string.Join("", tickets.Select((t, i) =>
            $"<div style=\"display:inline-block;margin:0 1em 1em 0;text-align:center\"><img src=\"cid:{images[i].ContentId}\" width=\"200\" height=\"200\" alt=\"Ticket QR code for seat {E(t.Seat)}\">" +
            $"<br><strong>Seat {E(t.Seat)}</strong>{(t.AttendeeName is null ? "" : $"<br>{E(t.AttendeeName)}")}<br><code>{E(t.Code)}</code></div>"));
        return Build(b.To, $"Booking {b.BookingId} confirmed: {b.Title}",
            $"Hello {b.Name},\n\nyour booking {b.BookingId} is confirmed.\n\n{Details(b)}\n\nYour tickets (show the code at the door or the gate):\n{text}\n",
            $"<p>Hello {E(b.Name)},</p><p>your booking {b.BookingId} is confirmed.</p>{DetailsHtml(b)}<p>Your tickets: show the code at the door or the gate.</p>{html}",
            images: images);
    }

    /// <summary>The payment deadline passed unpaid: the booking expired and its seats went back on sale.</summary>
    public static EmailMessage BookingExpired(Booking b) => Build(b.To, $"Booking {b.BookingId} expired unpaid: {b.Title}",
        $"Hello {b.Name},\n\nbooking {b.BookingId} was not paid by its deadline, so it has expired and its seats went back on sale. Nothing was charged.\n\n{Details(b)}\n",
        $"<p>Hello {E(b.Name)},</p><p>booking {b.BookingId} was not paid by its deadline, so it has expired and its seats went back on sale. Nothing was charged.</p>{DetailsHtml(b)}");

    /// <summary>A payment attempt failed; the booking stays payable until its deadline.</summary>
    public static EmailMessage PaymentFailed(Booking b, string reason, DateTimeOffset payBy) => Build(b.To, $"Payment failed for booking {b.BookingId}",
        $"Hello {b.Name},\n\nthe payment for booking {b.BookingId} did not go through ({reason}). Your seats are kept until {Time(payBy)}; try again before then.\n\n{Details(b)}\n",
        $"<p>Hello {E(b.Name)},</p><p>the payment for booking {b.BookingId} did not go through ({E(reason)}). Your seats are kept until {E(Time(payBy))}; try again before then.</p>{DetailsHtml(b)}");

    /// <summary>A booking was cancelled, with what is refunded.</summary>
    public static EmailMessage BookingCancelled(Booking b, long refundMinor) => Build(b.To, $"Booking {b.BookingId} cancelled",
        $"Hello {b.Name},\n\nbooking {b.BookingId} is cancelled. Refund: {Money(refundMinor, b.Currency, b.Exponent)}.\n\n{Details(b)}\n",
        $"<p>Hello {E(b.Name)},</p><p>booking {b.BookingId} is cancelled. Refund: {E(Money(refundMinor, b.Currency, b.Exponent))}.</p>{DetailsHtml(b)}");

    /// <summary>The organizer cancelled the show.</summary>
    public static EmailMessage ShowCancelled(Booking b) => Build(b.To, $"Cancelled: {b.Title}",
        $"Hello {b.Name},\n\nwe are sorry: {b.Title} on {Local(b)} is cancelled. Booking {b.BookingId} will be refunded in full.\n\n{Details(b)}\n",
        $"<p>Hello {E(b.Name)},</p><p>we are sorry: {E(b.Title)} on {E(Local(b))} is cancelled. Booking {b.BookingId} will be refunded in full.</p>{DetailsHtml(b)}");

    /// <summary>An organizer's notice about the show (a delay, a change).</summary>
    public static EmailMessage Notice(Booking b, string subject, string message) => Build(b.To, $"{subject}: {b.Title}",
        $"Hello {b.Name},\n\n{message}\n\n{Details(b)}\n",
        $"<p>Hello {E(b.Name)},</p>{string.Join("", message.Split("\n\n").Select(p => $"<p>{E(p)}</p>"))}{DetailsHtml(b)}");

    /// <summary>Double opt-in: the link that confirms a newsletter subscription.</summary>
    public static EmailMessage NewsletterConfirm(string to, Uri confirm) => Build(to, "Confirm your Holdfast newsletter subscription",
        $"Someone, hopefully you, asked to receive the Holdfast newsletter at this address.\n\nConfirm: {confirm}\n\nIf it was not you, ignore this email and nothing will be sent.\n",
        $"<p>Someone, hopefully you, asked to receive the Holdfast newsletter at this address.</p><p><a href=\"{E(confirm.ToString())}\">Confirm my subscription</a></p><p>If it was not you, ignore this email and nothing will be sent.</p>");

    /// <summary>A reminder some hours before the show.</summary>
    public static EmailMessage Reminder(Booking b) => Build(b.To, $"Reminder: {b.Title}, {Local(b)}",
        $"Hello {b.Name},\n\na reminder of your booking {b.BookingId}.\n\n{Details(b)}\n",
        $"<p>Hello {E(b.Name)},</p><p>a reminder of your booking {b.BookingId}.</p>{DetailsHtml(b)}");

    /// <summary>A newsletter issue, with its one-click unsubscribe link (RFC 8058).</summary>
    public static EmailMessage Newsletter(string to, string subject, string body, Uri unsubscribe) => Build(to, subject,
        $"{body}\n\n--\nUnsubscribe: {unsubscribe}\n",
        $"{string.Join("", body.Split("\n\n").Select(p => $"<p>{E(p)}</p>"))}<hr><p><a href=\"{E(unsubscribe.ToString())}\">Unsubscribe</a></p>",
        new Dictionary<string, string>
        {
            ["List-Unsubscribe"] = $"<{unsubscribe}>",
            ["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click",
        });

    /// <summary>Formats minor units with the currency's exponent: 49850 GBP → "498.50 GBP", 16800 JPY → "16800 JPY".</summary>
    public static string Money(long minor, string currency, int exponent) =>
        (minor / (decimal)Math.Pow(10, exponent)).ToString($"F{exponent}", CultureInfo.InvariantCulture) + " " + currency;

    /// <summary>E.g. "Sunday 22 November 2026, 21:55 (Pacific/Honolulu, UTC−10:00)".</summary>
    public static string Local(Booking b) =>
        b.LocalStartsAt.ToString("dddd d MMMM yyyy, HH:mm", CultureInfo.InvariantCulture) + $" ({b.TimeZone}, UTC{b.LocalStartsAt:zzz})";

    private static string Time(DateTimeOffset utc) => utc.UtcDateTime.ToString("d MMMM yyyy, HH:mm 'UTC'", CultureInfo.InvariantCulture);

    private static string Details(Booking b) =>
        $"{b.Title}\n{Local(b)}\n{b.Venue}\nSeats: {string.Join(", ", b.Seats)}\nTotal: {Money(b.TotalMinor, b.Currency, b.Exponent)}";

    private static string DetailsHtml(Booking b) =>
        $"<table><tr><th align=\"left\">What</th><td>{E(b.Title)}</td></tr><tr><th align=\"left\">When</th><td>{E(Local(b))}</td></tr>" +
        $"<tr><th align=\"left\">Where</th><td>{E(b.Venue)}</td></tr><tr><th align=\"left\">Seats</th><td>{E(string.Join(", ", b.Seats))}</td></tr>" +
        $"<tr><th align=\"left\">Total</th><td>{E(Money(b.TotalMinor, b.Currency, b.Exponent))}</td></tr></table>";

    private static EmailMessage Build(string to, string subject, string text, string htmlBody, IReadOnlyDictionary<string, string>? headers = null,
        IReadOnlyList<EmailImage>? images = null) =>
        new(to, subject, text, $"<!doctype html><html><body style=\"font-family:sans-serif\">{htmlBody}<p>— Holdfast</p></body></html>", headers, images);

    private static string E(string text) => WebUtility.HtmlEncode(text);
}

using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Holdfast.Infrastructure.Auth;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Holdfast.Tests.Infrastructure;

/// <summary>
/// Calls every endpoint as each kind of caller and checks each answer. A new endpoint without a
/// row here fails <see cref="Every_endpoint_has_a_row_in_the_matrix"/>, so none ships without a rule.
/// </summary>
public sealed class MatrixFixture : AppFixture
{
    // The owner takes a hold for every row and caller; the per-customer limit is not under test here.
    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?> { ["Holds:MaxSeatsPerCustomerPerShow"] = "100" };
}

public sealed class AuthorizationMatrixTests(MatrixFixture fixture) : IClassFixture<MatrixFixture>
{
    public enum Actor { Anonymous, Customer, Owner, OtherOrganizer, OwningOrganizer, Admin }

    private static readonly Actor[] Everyone = Enum.GetValues<Actor>();
    private const string Password = "matrix password 1";
    private TestApp App => fixture.App;

    private sealed record Row(string Method, string Route, Func<World, Actor, Task<HttpRequestMessage>> Request, Func<Actor, HttpStatusCode> Expected);

    private static HttpStatusCode Public(Actor _, HttpStatusCode status) => status;

    private static Func<Actor, HttpStatusCode> SignedIn(HttpStatusCode status) => a => a == Actor.Anonymous ? HttpStatusCode.Unauthorized : status;

    private static Func<Actor, HttpStatusCode> AdminOnly(HttpStatusCode status) => a => a switch
    {
        Actor.Anonymous => HttpStatusCode.Unauthorized,
        Actor.Admin => status,
        _ => HttpStatusCode.Forbidden,
    };

    private static Func<Actor, HttpStatusCode> Table(HttpStatusCode customer, HttpStatusCode owner, HttpStatusCode otherOrganizer, HttpStatusCode owningOrganizer, HttpStatusCode admin) => a => a switch
    {
        Actor.Anonymous => HttpStatusCode.Unauthorized,
        Actor.Customer => customer,
        Actor.Owner => owner,
        Actor.OtherOrganizer => otherOrganizer,
        Actor.OwningOrganizer => owningOrganizer,
        _ => admin,
    };

    private static Func<Actor, HttpStatusCode> Organizers(HttpStatusCode status) => a => a switch
    {
        Actor.Anonymous => HttpStatusCode.Unauthorized,
        Actor.Customer or Actor.Owner => HttpStatusCode.Forbidden,
        _ => status,
    };

    // Organizers' and admins' endpoints on something the owning organizer owns: another organizer gets 404.
    private static Func<Actor, HttpStatusCode> OwnedBy(HttpStatusCode status) => a => a switch
    {
        Actor.Anonymous => HttpStatusCode.Unauthorized,
        Actor.Customer or Actor.Owner => HttpStatusCode.Forbidden,
        Actor.OtherOrganizer => HttpStatusCode.NotFound,
        _ => status,
    };

    // A PNG signature and an IHDR of 1 × 1: what the poster upload sniffs.
    private static readonly byte[] MatrixPng = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52, 0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0];

    private static readonly object SmallLayout = new { sections = new object[] { new { name = "main", category = "standard", rows = "1-2", seats = "AB" } } };

    private static HttpRequestMessage Json(HttpMethod method, string path, object? body = null) =>
        new(method, path) { Content = body is null ? null : JsonContent.Create(body) };

    private static readonly Row[] Matrix =
    [
        new("POST", "/auth/register", (w, a) => Task.FromResult(Json(HttpMethod.Post, "/auth/register", new { email = $"m{Guid.NewGuid():N}@example.com", password = Password })), a => Public(a, HttpStatusCode.Created)),
        new("POST", "/auth/login", (w, a) => Task.FromResult(Json(HttpMethod.Post, "/auth/login", new { email = w.Emails[Actor.Owner], password = Password })), a => Public(a, HttpStatusCode.OK)),
        new("POST", "/auth/login/2fa", (w, a) => Task.FromResult(Json(HttpMethod.Post, "/auth/login/2fa", new { mfa_token = "not-a-token", code = "123456" })), a => Public(a, HttpStatusCode.Unauthorized)),
        new("POST", "/auth/refresh", async (w, a) => Json(HttpMethod.Post, "/auth/refresh", new { refresh_token = (await w.LoginAsync(Actor.Owner))["refresh_token"]!.GetValue<string>() }), a => Public(a, HttpStatusCode.OK)),
        new("POST", "/auth/logout", (w, a) => Task.FromResult(Json(HttpMethod.Post, "/auth/logout", new { refresh_token = "whatever" })), a => Public(a, HttpStatusCode.NoContent)),
        new("GET", "/auth/sessions", (w, a) => Task.FromResult(Json(HttpMethod.Get, "/auth/sessions")), SignedIn(HttpStatusCode.OK)),
        new("DELETE", "/auth/sessions/{sessionId:guid}", async (w, a) => Json(HttpMethod.Delete, $"/auth/sessions/{await w.OwnerSessionAsync()}"),
            Table(HttpStatusCode.NotFound, HttpStatusCode.NoContent, HttpStatusCode.NotFound, HttpStatusCode.NotFound, HttpStatusCode.NotFound)),
        // External login (issue 16): this app has no provider configured, so every provider route answers 404.
        new("GET", "/auth/external", (w, a) => Task.FromResult(Json(HttpMethod.Get, "/auth/external")), a => Public(a, HttpStatusCode.OK)),
        new("GET", "/auth/external/{provider}", (w, a) => Task.FromResult(Json(HttpMethod.Get, "/auth/external/google?redirect_uri=https%3A%2F%2Fspa.example%2F")), a => Public(a, HttpStatusCode.NotFound)),
        new("GET", "/auth/external/{provider}/callback", (w, a) => Task.FromResult(Json(HttpMethod.Get, "/auth/external/google/callback?code=x&state=y")), a => Public(a, HttpStatusCode.NotFound)),
        new("POST", "/auth/external/token", (w, a) => Task.FromResult(Json(HttpMethod.Post, "/auth/external/token", new { code = "not-a-code" })), a => Public(a, HttpStatusCode.Unauthorized)),
        new("POST", "/auth/external/{provider}/link", (w, a) => Task.FromResult(Json(HttpMethod.Post, "/auth/external/google/link", new { redirect_uri = "https://spa.example/" })), SignedIn(HttpStatusCode.NotFound)),
        new("GET", "/auth/identities", (w, a) => Task.FromResult(Json(HttpMethod.Get, "/auth/identities")), SignedIn(HttpStatusCode.OK)),
        new("DELETE", "/auth/identities/{identityId:long}", (w, a) => Task.FromResult(Json(HttpMethod.Delete, "/auth/identities/987654321")), SignedIn(HttpStatusCode.NotFound)),
        // SMS (issue 16): nobody in the matrix has a number; no Twilio token is configured, so no webhook signature can check out.
        new("GET", "/me/phone", (w, a) => Task.FromResult(Json(HttpMethod.Get, "/me/phone")), SignedIn(HttpStatusCode.NotFound)),
        new("PUT", "/me/phone", (w, a) => Task.FromResult(Json(HttpMethod.Put, "/me/phone", new { phone_number = "not a number" })), SignedIn(HttpStatusCode.BadRequest)),
        new("POST", "/me/phone/verify", (w, a) => Task.FromResult(Json(HttpMethod.Post, "/me/phone/verify", new { code = "123456" })), SignedIn(HttpStatusCode.BadRequest)),
        new("PUT", "/me/phone/preferences", (w, a) => Task.FromResult(Json(HttpMethod.Put, "/me/phone/preferences", new { reminder = true })), SignedIn(HttpStatusCode.NotFound)),
        new("DELETE", "/me/phone", (w, a) => Task.FromResult(Json(HttpMethod.Delete, "/me/phone")), SignedIn(HttpStatusCode.NotFound)),
        new("POST", "/sms/twilio/inbound", (w, a) => Task.FromResult(new HttpRequestMessage(HttpMethod.Post, "/sms/twilio/inbound")
        {
            Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["From"] = "+447700900123", ["Body"] = "STOP" }),
        }), a => Public(a, HttpStatusCode.Forbidden)),
        new("POST", "/auth/password", (w, a) => Task.FromResult(Json(HttpMethod.Post, "/auth/password", new { current_password = "not the password", new_password = "another password 2" })), SignedIn(HttpStatusCode.BadRequest)),
        new("POST", "/auth/2fa/enrol", (w, a) => Task.FromResult(Json(HttpMethod.Post, "/auth/2fa/enrol")), SignedIn(HttpStatusCode.OK)),
        new("POST", "/auth/2fa/confirm", (w, a) => Task.FromResult(Json(HttpMethod.Post, "/auth/2fa/confirm", new { code = "abcdef" })), SignedIn(HttpStatusCode.BadRequest)),
        new("POST", "/auth/2fa/disable", (w, a) => Task.FromResult(Json(HttpMethod.Post, "/auth/2fa/disable", new { code = "123456" })), SignedIn(HttpStatusCode.Conflict)),
        new("GET", "/admin/users", (w, a) => Task.FromResult(Json(HttpMethod.Get, "/admin/users?limit=5")), AdminOnly(HttpStatusCode.OK)),
        new("PUT", "/admin/users/{userId:long}/disabled", (w, a) => Task.FromResult(Json(HttpMethod.Put, $"/admin/users/{w.Ids[Actor.Customer]}/disabled", new { disabled = false })), AdminOnly(HttpStatusCode.OK)),
        new("PUT", "/admin/users/{userId:long}/role", (w, a) => Task.FromResult(Json(HttpMethod.Put, $"/admin/users/{w.Ids[Actor.Customer]}/role", new { role = "customer" })), AdminOnly(HttpStatusCode.OK)),
        new("GET", "/admin/jobs/stats", (w, a) => Task.FromResult(Json(HttpMethod.Get, "/admin/jobs/stats")), AdminOnly(HttpStatusCode.OK)),
        new("GET", "/admin/jobs", (w, a) => Task.FromResult(Json(HttpMethod.Get, "/admin/jobs?limit=5")), AdminOnly(HttpStatusCode.OK)),
        new("GET", "/admin/jobs/{jobId:long}", async (w, a) => Json(HttpMethod.Get, $"/admin/jobs/{await w.FutureJobAsync()}"), AdminOnly(HttpStatusCode.OK)),
        new("POST", "/admin/jobs/{jobId:long}/retry", async (w, a) => Json(HttpMethod.Post, $"/admin/jobs/{await w.FutureJobAsync("cancelled")}/retry"), AdminOnly(HttpStatusCode.OK)),
        new("POST", "/admin/jobs/{jobId:long}/cancel", async (w, a) => Json(HttpMethod.Post, $"/admin/jobs/{await w.FutureJobAsync()}/cancel"), AdminOnly(HttpStatusCode.OK)),
        new("POST", "/admin/jobs/{jobId:long}/run-now", async (w, a) => Json(HttpMethod.Post, $"/admin/jobs/{await w.FutureJobAsync()}/run-now"), AdminOnly(HttpStatusCode.OK)),
        new("GET", "/admin/audit", (w, a) => Task.FromResult(Json(HttpMethod.Get, "/admin/audit?limit=5")), AdminOnly(HttpStatusCode.OK)),
        new("GET", "/reports/shows", (w, a) => Task.FromResult(Json(HttpMethod.Get, "/reports/shows")),
            a => a switch { Actor.Anonymous => HttpStatusCode.Unauthorized, Actor.Customer or Actor.Owner => HttpStatusCode.Forbidden, _ => HttpStatusCode.OK }),
        new("GET", "/reports/revenue/daily", (w, a) => Task.FromResult(Json(HttpMethod.Get, "/reports/revenue/daily")),
            a => a switch { Actor.Anonymous => HttpStatusCode.Unauthorized, Actor.Customer or Actor.Owner => HttpStatusCode.Forbidden, _ => HttpStatusCode.OK }),
        new("POST", "/cities", (w, a) => Task.FromResult(Json(HttpMethod.Post, "/cities", new { name = $"City {Guid.NewGuid():N}", country = "Matrixland", time_zone = "UTC" })),
            AdminOnly(HttpStatusCode.Created)),
        new("POST", "/airports", (w, a) => Task.FromResult(Json(HttpMethod.Post, "/airports", new { iata = "MXZ", name = "Matrix Airport", city_id = w.CityId, latitude = 0, longitude = 0, time_zone = "UTC" })),
            AdminOnly(HttpStatusCode.Created)),
        new("GET", "/push/vapid-public-key", (w, a) => Task.FromResult(Json(HttpMethod.Get, "/push/vapid-public-key")), a => Public(a, HttpStatusCode.OK)),
        new("POST", "/push/subscriptions", (w, a) => Task.FromResult(Json(HttpMethod.Post, "/push/subscriptions", new
            {
                endpoint = $"https://push.example/{Guid.NewGuid():N}",
                keys = new { p256dh = Microsoft.AspNetCore.WebUtilities.WebEncoders.Base64UrlEncode([4, .. new byte[64]]), auth = "AAAAAAAAAAAAAAAAAAAAAA" },
            })), SignedIn(HttpStatusCode.Created)),
        new("DELETE", "/push/subscriptions", (w, a) => Task.FromResult(Json(HttpMethod.Delete, "/push/subscriptions?endpoint=https%3A%2F%2Fpush.example%2Fnone")), SignedIn(HttpStatusCode.NoContent)),
        new("POST", "/shows/{showId:long}/notices", async (w, a) => Json(HttpMethod.Post, $"/shows/{await w.OwnedShowAsync()}/notices", new { subject = "Delay", message = "Twenty minutes." }),
            a => a switch
            {
                Actor.Anonymous => HttpStatusCode.Unauthorized,
                Actor.Customer or Actor.Owner => HttpStatusCode.Forbidden,
                Actor.OtherOrganizer => HttpStatusCode.NotFound,
                _ => HttpStatusCode.Accepted,
            }),
        new("POST", "/newsletter/subscriptions", (w, a) => Task.FromResult(Json(HttpMethod.Post, "/newsletter/subscriptions", new { email = $"n{Guid.NewGuid():N}@example.com" })), a => Public(a, HttpStatusCode.Accepted)),
        new("GET", "/newsletter/confirm", (w, a) => Task.FromResult(Json(HttpMethod.Get, "/newsletter/confirm?token=nope")), a => Public(a, HttpStatusCode.BadRequest)),
        new("GET", "/newsletter/unsubscribe", (w, a) => Task.FromResult(Json(HttpMethod.Get, "/newsletter/unsubscribe?token=nope")), a => Public(a, HttpStatusCode.OK)),
        new("POST", "/newsletter/unsubscribe", (w, a) => Task.FromResult(Json(HttpMethod.Post, "/newsletter/unsubscribe?token=nope")), a => Public(a, HttpStatusCode.BadRequest)),
        new("POST", "/admin/newsletters", (w, a) => Task.FromResult(Json(HttpMethod.Post, "/admin/newsletters", new { subject = "Matrix", body = "Hello." })), AdminOnly(HttpStatusCode.Accepted)),
        new("GET", "/admin/newsletters/{issueId:long}", (w, a) => Task.FromResult(Json(HttpMethod.Get, "/admin/newsletters/987654321")), AdminOnly(HttpStatusCode.NotFound)),
        new("GET", "/shows", (w, a) => Task.FromResult(Json(HttpMethod.Get, "/shows?limit=1")), a => Public(a, HttpStatusCode.OK)),
        new("GET", "/shows/{showId:long}", (w, a) => Task.FromResult(Json(HttpMethod.Get, $"/shows/{w.ShowId}")), a => Public(a, HttpStatusCode.OK)),
        new("GET", "/shows/{showId:long}/seats", (w, a) => Task.FromResult(Json(HttpMethod.Get, $"/shows/{w.ShowId}/seats")), a => Public(a, HttpStatusCode.OK)),
        new("GET", "/shows/{showId:long}/seats/stream", (w, a) => Task.FromResult(Json(HttpMethod.Get, $"/shows/{w.ShowId}/seats/stream")), a => Public(a, HttpStatusCode.OK)),
        new("POST", "/shows/{showId:long}/holds", (w, a) => Task.FromResult(Json(HttpMethod.Post, $"/shows/{w.ShowId}/holds", new { category = "standard", quantity = 1 })), SignedIn(HttpStatusCode.Created)),
        new("DELETE", "/holds/{holdId:long}", async (w, a) => Json(HttpMethod.Delete, $"/holds/{await w.OwnerHoldAsync()}"),
            Table(HttpStatusCode.NotFound, HttpStatusCode.NoContent, HttpStatusCode.NotFound, HttpStatusCode.NotFound, HttpStatusCode.NoContent)),
        new("GET", "/holds/{holdId:long}", async (w, a) => Json(HttpMethod.Get, $"/holds/{await w.OwnerHoldAsync()}"),
            Table(HttpStatusCode.NotFound, HttpStatusCode.OK, HttpStatusCode.NotFound, HttpStatusCode.NotFound, HttpStatusCode.NotFound)),
        new("GET", "/users/{userId:long}", (w, a) => Task.FromResult(Json(HttpMethod.Get, $"/users/{w.Ids[Actor.Owner]}")),
            Table(HttpStatusCode.NotFound, HttpStatusCode.OK, HttpStatusCode.NotFound, HttpStatusCode.NotFound, HttpStatusCode.OK)),
        new("GET", "/cities", (w, a) => Task.FromResult(Json(HttpMethod.Get, "/cities?limit=1")), a => Public(a, HttpStatusCode.OK)),
        new("GET", "/airports", (w, a) => Task.FromResult(Json(HttpMethod.Get, "/airports?limit=1")), a => Public(a, HttpStatusCode.OK)),
        new("PATCH", "/cities/{cityId:long}", (w, a) => Task.FromResult(Json(HttpMethod.Patch, $"/cities/{w.CityId}", new { })), AdminOnly(HttpStatusCode.NoContent)),
        new("DELETE", "/cities/{cityId:long}", (w, a) => Task.FromResult(Json(HttpMethod.Delete, "/cities/987654321")), AdminOnly(HttpStatusCode.NotFound)),
        new("PATCH", "/airports/{airportId:long}", (w, a) => Task.FromResult(Json(HttpMethod.Patch, "/airports/987654321", new { })), AdminOnly(HttpStatusCode.NotFound)),
        new("DELETE", "/airports/{airportId:long}", (w, a) => Task.FromResult(Json(HttpMethod.Delete, "/airports/987654321")), AdminOnly(HttpStatusCode.NotFound)),
        new("GET", "/cities/{cityId:long}", (w, a) => Task.FromResult(Json(HttpMethod.Get, $"/cities/{w.CityId}")), a => Public(a, HttpStatusCode.OK)),
        new("GET", "/airports/{airportId:long}", (w, a) => Task.FromResult(Json(HttpMethod.Get, "/airports/987654321")), a => Public(a, HttpStatusCode.NotFound)),
        new("GET", "/events", (w, a) => Task.FromResult(Json(HttpMethod.Get, "/events?limit=1")), a => Public(a, HttpStatusCode.OK)),
        new("GET", "/events/{eventId:long}", (w, a) => Task.FromResult(Json(HttpMethod.Get, $"/events/{w.OwnedEventId}")), a => Public(a, HttpStatusCode.OK)),
        new("POST", "/holds/{holdId:long}/booking", async (w, a) => Json(HttpMethod.Post, $"/holds/{await w.OwnerHoldAsync()}/booking"),
            Table(HttpStatusCode.NotFound, HttpStatusCode.Created, HttpStatusCode.NotFound, HttpStatusCode.NotFound, HttpStatusCode.NotFound)),
        new("POST", "/bookings/{bookingId:long}/payments", async (w, a) => Json(HttpMethod.Post, $"/bookings/{await w.OwnerDeclinedBookingAsync()}/payments"),
            Table(HttpStatusCode.NotFound, HttpStatusCode.Created, HttpStatusCode.NotFound, HttpStatusCode.NotFound, HttpStatusCode.NotFound)),
        new("POST", "/bookings/{bookingId:long}/cancellation", async (w, a) => Json(HttpMethod.Post, $"/bookings/{await w.OwnerConfirmedBookingAsync()}/cancellation"),
            Table(HttpStatusCode.NotFound, HttpStatusCode.OK, HttpStatusCode.NotFound, HttpStatusCode.NotFound, HttpStatusCode.NotFound)),
        new("GET", "/bookings/{bookingId:long}", (w, a) => Task.FromResult(Json(HttpMethod.Get, $"/bookings/{w.BookingId}")),
            Table(HttpStatusCode.NotFound, HttpStatusCode.OK, HttpStatusCode.NotFound, HttpStatusCode.OK, HttpStatusCode.OK)),
        new("GET", "/me/bookings", (w, a) => Task.FromResult(Json(HttpMethod.Get, "/me/bookings?limit=5")), SignedIn(HttpStatusCode.OK)),
        new("GET", "/me/holds", (w, a) => Task.FromResult(Json(HttpMethod.Get, "/me/holds?limit=5")), SignedIn(HttpStatusCode.OK)),
        new("GET", "/me/stream", (w, a) => Task.FromResult(Json(HttpMethod.Get, "/me/stream")), SignedIn(HttpStatusCode.OK)),
        new("GET", "/bookings/{bookingId:long}/tickets", (w, a) => Task.FromResult(Json(HttpMethod.Get, $"/bookings/{w.BookingId}/tickets")),
            Table(HttpStatusCode.NotFound, HttpStatusCode.OK, HttpStatusCode.NotFound, HttpStatusCode.NotFound, HttpStatusCode.NotFound)),
        new("GET", "/bookings/{bookingId:long}/tickets/{ticketId:long}.png", (w, a) => Task.FromResult(Json(HttpMethod.Get, $"/bookings/{w.BookingId}/tickets/{w.TicketId}.png")),
            Table(HttpStatusCode.NotFound, HttpStatusCode.OK, HttpStatusCode.NotFound, HttpStatusCode.NotFound, HttpStatusCode.NotFound)),
        new("PUT", "/bookings/{bookingId:long}/seats/{seatId:long}/name", (w, a) => Task.FromResult(Json(HttpMethod.Put, $"/bookings/{w.BookingId}/seats/{w.SeatId}/name", new { name = "Matrix Passenger" })),
            Table(HttpStatusCode.NotFound, HttpStatusCode.NoContent, HttpStatusCode.NotFound, HttpStatusCode.NotFound, HttpStatusCode.NotFound)),
        new("GET", "/staff", (w, a) => Task.FromResult(Json(HttpMethod.Get, "/staff")),
            a => a switch { Actor.Anonymous => HttpStatusCode.Unauthorized, Actor.Customer or Actor.Owner => HttpStatusCode.Forbidden, _ => HttpStatusCode.OK }),
        new("POST", "/staff", async (w, a) => Json(HttpMethod.Post, "/staff", new { email = await w.FreshAccountAsync() }),
            a => a switch { Actor.Anonymous => HttpStatusCode.Unauthorized, Actor.Customer or Actor.Owner => HttpStatusCode.Forbidden, _ => HttpStatusCode.Created }),
        new("DELETE", "/staff/{userId:long}", (w, a) => Task.FromResult(Json(HttpMethod.Delete, $"/staff/{w.Ids[Actor.Customer]}")),
            a => a switch { Actor.Anonymous => HttpStatusCode.Unauthorized, Actor.Customer or Actor.Owner => HttpStatusCode.Forbidden, _ => HttpStatusCode.NotFound }),
        // The matrix show starts in three days: check-in is not open yet, so those who may scan get 409 naming the window.
        new("POST", "/shows/{showId:long}/checkins", (w, a) => Task.FromResult(Json(HttpMethod.Post, $"/shows/{w.ShowId}/checkins", new { code = "matrix-code" })),
            Table(HttpStatusCode.NotFound, HttpStatusCode.NotFound, HttpStatusCode.NotFound, HttpStatusCode.Conflict, HttpStatusCode.Conflict)),
        new("GET", "/shows/{showId:long}/manifest", (w, a) => Task.FromResult(Json(HttpMethod.Get, $"/shows/{w.ShowId}/manifest")),
            Table(HttpStatusCode.NotFound, HttpStatusCode.NotFound, HttpStatusCode.NotFound, HttpStatusCode.OK, HttpStatusCode.OK)),
        new("POST", "/venues", (w, a) => Task.FromResult(Json(HttpMethod.Post, "/venues", new { name = $"V {Guid.NewGuid():N}", kind = "coach", layout = SmallLayout })),
            a => a switch { Actor.Anonymous => HttpStatusCode.Unauthorized, Actor.Customer or Actor.Owner => HttpStatusCode.Forbidden, _ => HttpStatusCode.Created }),
        new("GET", "/venues/{venueId:long}", async (w, a) => Json(HttpMethod.Get, $"/venues/{await w.OwnedVenueAsync()}"), a => Public(a, HttpStatusCode.OK)),
        new("PUT", "/venues/{venueId:long}/layout", async (w, a) => Json(HttpMethod.Put, $"/venues/{await w.OwnedVenueAsync()}/layout", new { layout = SmallLayout }),
            a => a switch
            {
                Actor.Anonymous => HttpStatusCode.Unauthorized,
                Actor.Customer or Actor.Owner => HttpStatusCode.Forbidden,
                Actor.OtherOrganizer => HttpStatusCode.NotFound,
                _ => HttpStatusCode.NoContent,
            }),
        new("POST", "/venues/{venueId:long}/blocks", async (w, a) => Json(HttpMethod.Post, $"/venues/{await w.OwnedVenueAsync()}/blocks", new { seats = new[] { "1A" }, reason = "broken" }),
            a => a switch
            {
                Actor.Anonymous => HttpStatusCode.Unauthorized,
                Actor.Customer or Actor.Owner => HttpStatusCode.Forbidden,
                Actor.OtherOrganizer => HttpStatusCode.NotFound,
                _ => HttpStatusCode.OK,
            }),
        new("DELETE", "/venues/{venueId:long}/blocks", async (w, a) => Json(HttpMethod.Delete, $"/venues/{await w.OwnedVenueAsync()}/blocks?seats=1A"),
            a => a switch
            {
                Actor.Anonymous => HttpStatusCode.Unauthorized,
                Actor.Customer or Actor.Owner => HttpStatusCode.Forbidden,
                Actor.OtherOrganizer => HttpStatusCode.NotFound,
                _ => HttpStatusCode.OK,
            }),
        new("POST", "/shows/{showId:long}/blocks", async (w, a) => Json(HttpMethod.Post, $"/shows/{await w.OwnedShowAsync()}/blocks", new { seats = new[] { "1A" }, reason = "house seats" }),
            a => a switch
            {
                Actor.Anonymous => HttpStatusCode.Unauthorized,
                Actor.Customer or Actor.Owner => HttpStatusCode.Forbidden,
                Actor.OtherOrganizer => HttpStatusCode.NotFound,
                _ => HttpStatusCode.OK,
            }),
        new("DELETE", "/shows/{showId:long}/blocks", async (w, a) => Json(HttpMethod.Delete, $"/shows/{await w.OwnedShowAsync()}/blocks?seats=1A"),
            a => a switch
            {
                Actor.Anonymous => HttpStatusCode.Unauthorized,
                Actor.Customer or Actor.Owner => HttpStatusCode.Forbidden,
                Actor.OtherOrganizer => HttpStatusCode.NotFound,
                _ => HttpStatusCode.OK,
            }),
        new("POST", "/events", (w, a) => Task.FromResult(Json(HttpMethod.Post, "/events", new { kind = "film", title = "Matrix film", duration_minutes = 90 })),
            a => a switch { Actor.Anonymous => HttpStatusCode.Unauthorized, Actor.Customer or Actor.Owner => HttpStatusCode.Forbidden, _ => HttpStatusCode.Created }),
        new("PATCH", "/events/{eventId:long}", (w, a) => Task.FromResult(Json(HttpMethod.Patch, $"/events/{w.OwnedEventId}", new { title = "Renamed film" })),
            a => a switch
            {
                Actor.Anonymous => HttpStatusCode.Unauthorized,
                Actor.Customer or Actor.Owner => HttpStatusCode.Forbidden,
                Actor.OtherOrganizer => HttpStatusCode.NotFound,
                _ => HttpStatusCode.NoContent,
            }),
        new("POST", "/shows", (w, a) => Task.FromResult(Json(HttpMethod.Post, "/shows", new
            {
                event_id = w.OwnedEventId, venue_id = w.OwnedVenueId, starts_at = DateTimeOffset.UtcNow.AddDays(30 + Interlocked.Increment(ref w.ShowOffset)),
                currency = "GBP", prices = new Dictionary<string, long> { ["standard"] = 100 },
            })),
            a => a switch
            {
                Actor.Anonymous => HttpStatusCode.Unauthorized,
                Actor.Customer or Actor.Owner => HttpStatusCode.Forbidden,
                Actor.OtherOrganizer => HttpStatusCode.NotFound,
                _ => HttpStatusCode.Created,
            }),
        new("PATCH", "/shows/{showId:long}", async (w, a) => Json(HttpMethod.Patch, $"/shows/{await w.OwnedShowAsync()}", new { prices = new Dictionary<string, long> { ["standard"] = 150 } }),
            a => a switch
            {
                Actor.Anonymous => HttpStatusCode.Unauthorized,
                Actor.Customer or Actor.Owner => HttpStatusCode.Forbidden,
                Actor.OtherOrganizer => HttpStatusCode.NotFound,
                _ => HttpStatusCode.NoContent,
            }),
        new("POST", "/shows/{showId:long}/cancel", async (w, a) => Json(HttpMethod.Post, $"/shows/{await w.OwnedShowAsync()}/cancel"),
            a => a switch
            {
                Actor.Anonymous => HttpStatusCode.Unauthorized,
                Actor.Customer or Actor.Owner => HttpStatusCode.Forbidden,
                Actor.OtherOrganizer => HttpStatusCode.NotFound,
                _ => HttpStatusCode.OK,
            }),
        new("GET", "/payments/config", (w, a) => Task.FromResult(Json(HttpMethod.Get, "/payments/config")), a => Public(a, HttpStatusCode.OK)),
        new("GET", "/venues", (w, a) => Task.FromResult(Json(HttpMethod.Get, "/venues?limit=5")), Organizers(HttpStatusCode.OK)),
        new("PATCH", "/venues/{venueId:long}", (w, a) => Task.FromResult(Json(HttpMethod.Patch, $"/venues/{w.OwnedVenueId}", new { archived = false })),
            OwnedBy(HttpStatusCode.NoContent)),
        new("DELETE", "/venues/{venueId:long}", async (w, a) => Json(HttpMethod.Delete, $"/venues/{await w.OwnedVenueAsync()}"), OwnedBy(HttpStatusCode.NoContent)),
        new("POST", "/venue-groups", (w, a) => Task.FromResult(Json(HttpMethod.Post, "/venue-groups", new { name = $"Group {Guid.NewGuid():N}" })), Organizers(HttpStatusCode.Created)),
        new("GET", "/venue-groups", (w, a) => Task.FromResult(Json(HttpMethod.Get, "/venue-groups?limit=5")), Organizers(HttpStatusCode.OK)),
        new("GET", "/venue-groups/{venueGroupId:long}", async (w, a) => Json(HttpMethod.Get, $"/venue-groups/{await w.OwnedVenueGroupAsync()}"), OwnedBy(HttpStatusCode.OK)),
        new("PUT", "/events/{eventId:long}/poster", (w, a) => Task.FromResult(new HttpRequestMessage(HttpMethod.Put, $"/events/{w.OwnedEventId}/poster") { Content = new ByteArrayContent(MatrixPng) }),
            OwnedBy(HttpStatusCode.OK)),
        new("GET", "/posters/{sha256}", (w, a) => Task.FromResult(Json(HttpMethod.Get, $"/posters/{new string('0', 64)}")), a => Public(a, HttpStatusCode.NotFound)),
        new("POST", "/shows/timetable", (w, a) => Task.FromResult(Json(HttpMethod.Post, "/shows/timetable", new
            {
                event_id = w.OwnedEventId, venue_id = w.OwnedVenueId, first_date = new DateOnly(2028, 1, 1).AddDays(Interlocked.Increment(ref w.ShowOffset)).ToString("yyyy-MM-dd"),
                last_date = new DateOnly(2028, 1, 1).AddDays(w.ShowOffset).ToString("yyyy-MM-dd"), local_times = new[] { "09:00" },
                currency = "GBP", prices = new Dictionary<string, long> { ["standard"] = 100 },
            })), OwnedBy(HttpStatusCode.OK)),
        new("GET", "/organizer/shows", (w, a) => Task.FromResult(Json(HttpMethod.Get, "/organizer/shows?limit=5")), Organizers(HttpStatusCode.OK)),
        new("POST", "/payments/stripe/webhook", (w, a) => Task.FromResult(Json(HttpMethod.Post, "/payments/stripe/webhook", new { id = "evt_unsigned" })),
            a => Public(a, HttpStatusCode.BadRequest)),
        new("GET", "/health/live", (w, a) => Task.FromResult(Json(HttpMethod.Get, "/health/live")), a => Public(a, HttpStatusCode.OK)),
        new("GET", "/health/ready", (w, a) => Task.FromResult(Json(HttpMethod.Get, "/health/ready")), a => Public(a, HttpStatusCode.OK)),
        new("GET", "/openapi/{documentName}.json", (w, a) => Task.FromResult(Json(HttpMethod.Get, "/openapi/v1.json")), a => Public(a, HttpStatusCode.OK)),
        new("GET", "/docs/{documentName?}", (w, a) => Task.FromResult(Json(HttpMethod.Get, "/docs")), a => Public(a, HttpStatusCode.OK)),
        new("GET", "/docs/scalar.js", (w, a) => Task.FromResult(Json(HttpMethod.Get, "/docs/scalar.js")), a => Public(a, HttpStatusCode.OK)),
        new("GET", "/docs/scalar.aspnetcore.js", (w, a) => Task.FromResult(Json(HttpMethod.Get, "/docs/scalar.aspnetcore.js")), a => Public(a, HttpStatusCode.OK)),
        new("GET", "/docs/favicon.svg", (w, a) => Task.FromResult(Json(HttpMethod.Get, "/docs/favicon.svg")), a => Public(a, HttpStatusCode.OK)),
    ];

    [Fact]
    public void Every_endpoint_has_a_row_in_the_matrix()
    {
        var mapped = App.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .SelectMany(e => (e.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? ["*"]).Select(m => $"{m} {e.RoutePattern.RawText}"))
            .ToHashSet();
        var covered = Matrix.Select(r => $"{r.Method} {r.Route}").ToHashSet();

        Assert.Empty(mapped.Except(covered).Order());
        Assert.Empty(covered.Except(mapped).Order());
    }

    [Fact]
    public async Task Each_endpoint_answers_each_caller_as_the_matrix_says()
    {
        var world = await World.CreateAsync(App);
        var wrong = new List<string>();
        foreach (var row in Matrix)
        {
            foreach (var actor in Everyone)
            {
                using var request = await row.Request(world, actor);
                if (world.Tokens.TryGetValue(actor, out var token))
                {
                    request.Headers.Authorization = new("Bearer", token);
                }

                using var client = App.CreateClient();
                using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
                var expected = row.Expected(actor);
                if (response.StatusCode != expected)
                {
                    wrong.Add($"{row.Method} {row.Route} as {actor}: expected {(int)expected}, got {(int)response.StatusCode}");
                }
            }
        }

        Assert.True(wrong.Count == 0, string.Join(Environment.NewLine, wrong));
    }

    /// <summary>The accounts, a show owned by one organizer, and a booking by the owner.</summary>
    private sealed class World
    {
        private readonly TestApp app;

        private World(TestApp app) => this.app = app;

        public Dictionary<Actor, long> Ids { get; } = [];

        public Dictionary<Actor, string> Emails { get; } = [];

        public Dictionary<Actor, string> Tokens { get; } = [];

        public long ShowId { get; private set; }

        public long BookingId { get; private set; }

        public long TicketId { get; private set; }

        public long SeatId { get; private set; }

        public long OwnedEventId { get; private set; }

        public long OwnedVenueId { get; private set; }

        public int ShowOffset;

        public long CityId { get; private set; }

        public static async Task<World> CreateAsync(TestApp app)
        {
            var world = new World(app);
            var hasher = new Microsoft.AspNetCore.Identity.PasswordHasher<PasswordOwner>();
            var issuer = app.Services.GetRequiredService<TokenIssuer>();
            foreach (var actor in Everyone.Where(a => a != Actor.Anonymous))
            {
                var role = actor switch
                {
                    Actor.Admin => Roles.Admin,
                    Actor.OtherOrganizer or Actor.OwningOrganizer => Roles.Organizer,
                    _ => Roles.Customer,
                };
                var email = $"{actor}-{Guid.NewGuid():N}@example.com".ToLowerInvariant();
                var id = await app.DataSource.ScalarAsync<long>(
                    "insert into app_user (email, display_name, password_hash, role) values ($1, $1, $2, $3) returning app_user_id",
                    email, hasher.HashPassword(new PasswordOwner(), Password), role);
                (world.Ids[actor], world.Emails[actor]) = (id, email);
                world.Tokens[actor] = issuer.Issue(id, email, role, DateTimeOffset.UtcNow).AccessToken;
            }

            world.ShowId = (await TestCatalogue.ShowAsync(app.DataSource, rows: 10, seatsPerRow: 10, premiumRows: 0, ownerId: world.Ids[Actor.OwningOrganizer])).ShowId;
            var hold = await world.OwnerHoldAsync();
            using var owner = world.ClientFor(Actor.Owner);
            world.BookingId = (await owner.PostAsync($"/holds/{hold}/booking", null).ExpectAsync(HttpStatusCode.Created))["booking_id"]!.GetValue<long>();
            (world.TicketId, world.SeatId) = (await app.DataSource.ScalarAsync<long>($"select ticket_id from ticket where booking_id = {world.BookingId}"),
                await app.DataSource.ScalarAsync<long>($"select seat_id from ticket where booking_id = {world.BookingId}"));
            world.OwnedVenueId = await world.OwnedVenueAsync();
            await using (var zone = app.DataSource.CreateCommand(
                $"with c as (insert into city (name, country, time_zone) values ('Matrix {Guid.NewGuid():N}', 'Nowhere', 'UTC') returning city_id) update venue set city_id = (select city_id from c) where venue_id = {world.OwnedVenueId}"))
            {
                await zone.ExecuteNonQueryAsync();
            }

            world.CityId = await app.DataSource.ScalarAsync<long>($"select city_id from venue where venue_id = {world.OwnedVenueId}");

            using var organizer = world.ClientFor(Actor.OwningOrganizer);
            world.OwnedEventId = (await organizer.PostAsJsonAsync("/events", new { kind = "film", title = "Owned film", duration_minutes = 60 })
                .ExpectAsync(HttpStatusCode.Created))["event_id"]!.GetValue<long>();
            return world;
        }

        public HttpClient ClientFor(Actor actor)
        {
            var client = app.CreateClient();
            client.DefaultRequestHeaders.Authorization = new("Bearer", Tokens[actor]);
            return client;
        }

        public async Task<long> OwnerHoldAsync()
        {
            using var owner = ClientFor(Actor.Owner);
            var hold = await owner.PostAsJsonAsync($"/shows/{ShowId}/holds", new { category = "standard", quantity = 1 }).ExpectAsync(HttpStatusCode.Created);
            return hold["hold_id"]!.GetValue<long>();
        }

        public async Task<long> OwnerConfirmedBookingAsync()
        {
            using var owner = ClientFor(Actor.Owner);
            var hold = await OwnerHoldAsync();
            return (await owner.PostAsync($"/holds/{hold}/booking", null).ExpectAsync(HttpStatusCode.Created))["booking_id"]!.GetValue<long>();
        }

        public async Task<long> OwnerDeclinedBookingAsync()
        {
            using var owner = ClientFor(Actor.Owner);
            var hold = await OwnerHoldAsync();
            var declined = await owner.PostAsJsonAsync($"/holds/{hold}/booking", new { payment_method = "pm_card_chargeDeclined" }).ExpectAsync(HttpStatusCode.PaymentRequired);
            return declined["booking_id"]!.GetValue<long>();
        }

        public async Task<long> OwnedVenueAsync()
        {
            using var owner = ClientFor(Actor.OwningOrganizer);
            var venue = await owner.PostAsJsonAsync("/venues", new { name = $"Owned {Guid.NewGuid():N}", kind = "coach", layout = SmallLayout }).ExpectAsync(HttpStatusCode.Created);
            return venue["venue_id"]!.GetValue<long>();
        }

        public Task<long> OwnedVenueGroupAsync() =>
            app.DataSource.ScalarAsync<long>("insert into venue_group (name, owner_app_user_id) values ($1, $2) returning venue_group_id",
                $"Matrix group {Guid.NewGuid():N}", Ids[Actor.OwningOrganizer]);

        public async Task<long> OwnedShowAsync() =>
            (await TestCatalogue.ShowAsync(app.DataSource, rows: 1, seatsPerRow: 2, premiumRows: 0, ownerId: Ids[Actor.OwningOrganizer])).ShowId;

        public Task<long> FutureJobAsync(string state = "available") =>
            app.DataSource.ScalarAsync<long>($"insert into job (kind, run_at, state) values ('matrix.noop', now() + interval '1 day', '{state}') returning job_id");

        public async Task<string> FreshAccountAsync()
        {
            var email = $"fresh-{Guid.NewGuid():N}@example.com";
            await app.DataSource.ScalarAsync<long>("insert into app_user (email, display_name, password_hash, role) values ($1, $1, 'x', 'customer') returning app_user_id", email);
            return email;
        }

        public async Task<JsonObject> LoginAsync(Actor actor)
        {
            using var client = app.CreateClient();
            return await client.PostAsJsonAsync("/auth/login", new { email = Emails[actor], password = Password }).ExpectAsync(HttpStatusCode.OK);
        }

        public async Task<string> OwnerSessionAsync()
        {
            var token = (await LoginAsync(Actor.Owner))["access_token"]!.GetValue<string>();
            var payload = Microsoft.AspNetCore.WebUtilities.WebEncoders.Base64UrlDecode(token.Split('.')[1]);
            return JsonNode.Parse(payload)!["sid"]!.GetValue<string>();
        }
    }
}

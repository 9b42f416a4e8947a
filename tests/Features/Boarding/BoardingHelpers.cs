using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Holdfast.Tests.Infrastructure;
using StbImageSharp;
using ZXing;
using ZXing.Common;
using ZXing.QrCode;

namespace Holdfast.Tests.Features.Boarding;

/// <summary>Arranging bookings, staff and scans for the boarding tests, through the API.</summary>
public static class Boarding
{
    /// <summary>Holds <paramref name="seats"/> and pays at once (fake gateway); returns the confirmed booking.</summary>
    public static async Task<JsonObject> BookAsync(HttpClient customer, long showId, params string[] seats)
    {
        var hold = await customer.PostAsJsonAsync($"/shows/{showId}/holds", new { seats }).ExpectAsync(HttpStatusCode.Created);
        var booking = await customer.PostAsync($"/holds/{hold["hold_id"]}/booking", null).ExpectAsync(HttpStatusCode.Created);
        Assert.Equal("confirmed", booking["status"]!.GetValue<string>());
        return booking;
    }

    /// <summary>The booking's tickets, as <c>GET /bookings/{id}/tickets</c> lists them.</summary>
    public static async Task<JsonArray> TicketsAsync(HttpClient customer, long bookingId)
    {
        using var response = await customer.GetAsync($"/bookings/{bookingId}/tickets");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonArray>())!;
    }

    /// <summary>An organizer and a member of their staff (added through <c>POST /staff</c>).</summary>
    public static async Task<(HttpClient Organizer, long OrganizerId, HttpClient Staff, long StaffId)> OrganizerWithStaffAsync(TestApp app)
    {
        var (organizer, organizerId) = await app.OrganizerAsync();
        var email = $"staff{Guid.NewGuid():N}@example.com";
        var (staff, staffId) = await app.CustomerAsync(email);
        var added = await organizer.PostAsJsonAsync("/staff", new { email }).ExpectAsync(HttpStatusCode.Created);
        Assert.Equal(staffId, added["user_id"]!.GetValue<long>());
        return (organizer, organizerId, staff, staffId);
    }

    /// <summary>
    /// Decodes the QR code in a PNG the server rendered: StbImageSharp reads the pixels, ZXing reads
    /// the code. The image is a pure barcode (upright, module-aligned, one quiet zone), so ZXing is
    /// told so and reads the modules where they are: its finder-pattern search, made for camera
    /// frames, misses about 0.7 % of random ticket codes on such clean images (22 of 3,000, the same
    /// codes when ZXing encodes them itself), which made a browser test fail in CI.
    /// </summary>
    public static string DecodeQr(byte[] png)
    {
        var image = ImageResult.FromMemory(png, ColorComponents.RedGreenBlueAlpha);
        var source = new RGBLuminanceSource(image.Data, image.Width, image.Height, RGBLuminanceSource.BitmapFormat.RGBA32);
        var pure = new Dictionary<DecodeHintType, object> { [DecodeHintType.PURE_BARCODE] = true };
        var result = new QRCodeReader().decode(new BinaryBitmap(new HybridBinarizer(source)), pure);
        Assert.NotNull(result);
        return result.Text;
    }

    /// <summary>Sends a scan; returns the response (the caller disposes it).</summary>
    public static Task<HttpResponseMessage> ScanAsync(HttpClient staff, long showId, string code, string? device = null, string? idempotencyKey = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, $"/shows/{showId}/checkins") { Content = JsonContent.Create(new { code, device }) };
        if (idempotencyKey is not null)
        {
            request.Headers.Add("Idempotency-Key", idempotencyKey);
        }

        return staff.SendAsync(request);
    }
}

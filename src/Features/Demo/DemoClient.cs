using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Holdfast.Features.Demo;

/// <summary>
/// The <c>demo-client</c> command: against a running Holdfast it registers a customer, searches a
/// real route for tomorrow (local date at the origin), holds the two best economy seats of the
/// first flight found, books them and prints the booking. Exit code 0 on success, 1 on any failure.
/// </summary>
public static class DemoClient
{
    private static readonly JsonSerializerOptions Pretty = new() { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Runs the demo against <paramref name="baseUrl"/>, writing progress to <paramref name="output"/>.</summary>
    public static async Task<int> RunAsync(Uri baseUrl, string origin, string destination, TextWriter output, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { BaseAddress = baseUrl, Timeout = TimeSpan.FromSeconds(30) };
        return await RunAsync(http, origin, destination, output, cancellationToken);
    }

    /// <summary>Runs the demo through <paramref name="http"/> (its base address is the service).</summary>
    public static async Task<int> RunAsync(HttpClient http, string origin, string destination, TextWriter output, CancellationToken cancellationToken)
    {
        try
        {
            var email = $"demo-{Guid.NewGuid().ToString("N")[..12]}@holdfast.example";
            var registered = await SendAsync(http, HttpMethod.Post, "/auth/register",
                new { email, password = "correct horse battery staple", display_name = "Demo Customer" }, cancellationToken);
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", registered["access_token"]!.GetValue<string>());
            await output.WriteLineAsync($"Registered {email} (user {registered["user_id"]}).");

            JsonNode? flight = null;
            string? date = null;
            for (var day = 1; day <= 7 && flight is null; day++)
            {
                date = TimeProvider.System.GetUtcNow().UtcDateTime.Date.AddDays(day).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
                var found = await SendAsync(http, HttpMethod.Get,
                    $"/shows?origin={Uri.EscapeDataString(origin)}&destination={Uri.EscapeDataString(destination)}&date={date}&category=economy&min_seats=2", null, cancellationToken);
                flight = found["items"]!.AsArray().FirstOrDefault();
            }

            if (flight is null)
            {
                await output.WriteLineAsync($"No flight {origin} → {destination} with two economy seats in the next week. Has `seed` run?");
                return 1;
            }

            await output.WriteLineAsync($"Found {flight["title"]} on {date}, departing {flight["local_starts_at"]} local ({flight["starts_at"]} UTC), " +
                                        $"from {flight["lowest_price_minor"]} {flight["currency"]} minor units.");
            var hold = await SendAsync(http, HttpMethod.Post, $"/shows/{flight["show_id"]}/holds", new { category = "economy", quantity = 2 }, cancellationToken);
            var seats = string.Join(", ", hold["seats"]!.AsArray().Select(s => s!["label"]!.GetValue<string>()));
            await output.WriteLineAsync($"Held seats {seats} as hold {hold["hold_id"]} until {hold["expires_at"]}: {hold["total_minor"]} {hold["currency"]}.");
            var booking = await SendAsync(http, HttpMethod.Post, $"/holds/{hold["hold_id"]}/booking", null, cancellationToken);
            await output.WriteLineAsync($"Booked: booking {booking["booking_id"]} is {booking["status"]}.");
            await output.WriteLineAsync(booking.ToJsonString(Pretty));
            return 0;
        }
        catch (HttpRequestException ex)
        {
            await output.WriteLineAsync($"demo-client: {ex.Message}");
            return 1;
        }
    }

    private static async Task<JsonNode> SendAsync(HttpClient http, HttpMethod method, string path, object? body, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }

        using var response = await http.SendAsync(request, cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw new HttpRequestException($"{method} {path} answered {(int)response.StatusCode}: {text}");
        }

        return JsonNode.Parse(text)!;
    }
}

using System.Globalization;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Nodes;
using Holdfast.Client;
using Holdfast.Client.Models;
using Microsoft.Kiota.Abstractions;
using Microsoft.Kiota.Abstractions.Authentication;
using Microsoft.Kiota.Abstractions.Serialization;
using Microsoft.Kiota.Http.HttpClientLibrary;

namespace Holdfast.Features.Demo;

/// <summary>
/// The <c>demo-client</c> command: against a running Holdfast it registers a customer, searches a
/// real route for tomorrow (local date at the origin), holds the two best economy seats of the
/// first flight found, books them and prints the booking. It runs through the typed client Kiota
/// generates from the OpenAPI document (<c>clients/Holdfast.Client</c>), so the main flow is the
/// contract, end to end. Exit code 0 on success, 1 on any failure.
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
        // The bearer token goes on the HttpClient, which the adapter sends through.
        var adapter = new HttpClientRequestAdapter(new AnonymousAuthenticationProvider(), httpClient: http)
        {
            BaseUrl = http.BaseAddress!.ToString().TrimEnd('/'),
        };
        var api = new HoldfastApiClient(adapter);
        try
        {
            var email = $"demo-{Guid.NewGuid().ToString("N")[..12]}@holdfast.example";
            var registered = await api.Auth.Register.PostAsync(
                new RegisterRequest { Email = email, Password = "correct horse battery staple", DisplayName = "Demo Customer" },
                cancellationToken: cancellationToken);
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", registered!.AccessToken);
            await output.WriteLineAsync($"Registered {email} (user {registered.UserId}).");

            SearchShowsItem? flight = null;
            string? date = null;
            for (var day = 1; day <= 7 && flight is null; day++)
            {
                var searchDay = DateOnly.FromDateTime(TimeProvider.System.GetUtcNow().UtcDateTime.Date.AddDays(day));
                date = searchDay.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
                var found = await api.Shows.GetAsync(search =>
                {
                    search.QueryParameters.Origin = origin;
                    search.QueryParameters.Destination = destination;
                    search.QueryParameters.Date = new Microsoft.Kiota.Abstractions.Date(searchDay.Year, searchDay.Month, searchDay.Day);
                    search.QueryParameters.Category = "economy";
                    search.QueryParameters.MinSeats = 2;
                }, cancellationToken);
                flight = found?.Items?.FirstOrDefault();
            }

            if (flight is null)
            {
                await output.WriteLineAsync($"No flight {origin} → {destination} with two economy seats in the next week. Has `seed` run?");
                return 1;
            }

            await output.WriteLineAsync($"Found {flight.Title} on {date}, departing {flight.LocalStartsAt:O} local ({flight.StartsAt:O} UTC), " +
                                        $"from {flight.LowestPriceMinor} {flight.Currency} minor units.");
            var hold = await api.Shows[flight.ShowId!.Value].Holds.PostAsync(
                new HoldSeatsRequest { Category = "economy", Quantity = 2 }, cancellationToken: cancellationToken);
            var seats = string.Join(", ", hold!.Seats!.Select(s => s.Label));
            await output.WriteLineAsync($"Held seats {seats} as hold {hold.HoldId} until {hold.ExpiresAt:O}: {hold.TotalMinor} {hold.Currency}.");
            var booking = await api.Holds[hold.HoldId!.Value].Booking.PostAsync(new BookHoldRequest(), cancellationToken: cancellationToken);
            await output.WriteLineAsync($"Booked: booking {booking!.BookingId} is {booking.Status}.");
            var json = await KiotaJsonSerializer.SerializeAsStringAsync(booking, serializeOnlyChangedValues: false, cancellationToken);
            await output.WriteLineAsync(JsonNode.Parse(json)!.ToJsonString(Pretty));
            return 0;
        }
        catch (ProblemDetails problem)
        {
            await output.WriteLineAsync($"demo-client: {problem.ResponseStatusCode} {problem.Title} {problem.Detail}");
            return 1;
        }
        catch (Exception ex) when (ex is ApiException or HttpRequestException)
        {
            await output.WriteLineAsync($"demo-client: {ex.Message}");
            return 1;
        }
    }
}

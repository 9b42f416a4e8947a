using System.Net;
using System.Net.Http.Json;

namespace Holdfast.Tests.Infrastructure;

/// <summary>
/// Every <c>Location</c> the API answers with (201 Created) names something a client can GET with
/// the same credentials (issue 12: <c>/users/4</c> was 404 and <c>/holds/12</c> 405).
/// </summary>
public sealed class LocationTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    private TestApp App => fixture.App;

    private static async Task<Uri> CreatedAsync(Task<HttpResponseMessage> send)
    {
        using var response = await send;
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return response.Headers.Location ?? throw new Xunit.Sdk.XunitException("201 without a Location");
    }

    private static long IdOf(Uri location) => long.Parse(location.OriginalString.Split('/')[^1], System.Globalization.CultureInfo.InvariantCulture);

    private static async Task ResolvesAsync(HttpClient client, Uri location, string idField)
    {
        var body = await client.GetAsync(location).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(IdOf(location), body[idField]!.GetValue<long>());
    }

    [Fact]
    public async Task Every_location_resolves_for_whoever_created_it()
    {
        var (admin, _) = await App.AdminAsync();
        var city = await CreatedAsync(admin.PostAsJsonAsync("/cities", new { name = $"Locatown {Guid.NewGuid():N}", country = "Iceland", time_zone = "Atlantic/Reykjavik" }));
        await ResolvesAsync(admin, city, "city_id");
        var cityId = IdOf(city);
        var iata = $"Q{Random.Shared.Next(10, 99)}";
        await using (var free = App.DataSource.CreateCommand($"delete from airport where iata = '{iata}'"))
        {
            await free.ExecuteNonQueryAsync();
        }

        var airport = await CreatedAsync(admin.PostAsJsonAsync("/airports", new { iata, name = "Location Field", city_id = cityId, latitude = 64.0, longitude = -22.6, time_zone = "Atlantic/Reykjavik" }));
        await ResolvesAsync(admin, airport, "airport_id");

        var (organizer, _) = await App.OrganizerAsync();
        var film = await CreatedAsync(organizer.PostAsJsonAsync("/events", new { kind = "film", title = "Located", duration_minutes = 90 }));
        await ResolvesAsync(organizer, film, "event_id");
        var venue = await CreatedAsync(organizer.PostAsJsonAsync("/venues", new
        {
            name = $"Hall {Guid.NewGuid():N}",
            kind = "cinema_hall",
            city_id = cityId,
            layout = new { sections = new object[] { new { name = "stalls", category = "standard", rows = "A-B", seats = "1-4" } } },
        }));
        await ResolvesAsync(organizer, venue, "venue_id");
        var group = await CreatedAsync(organizer.PostAsJsonAsync("/venue-groups", new { name = $"Group {Guid.NewGuid():N}" }));
        await ResolvesAsync(organizer, group, "venue_group_id");
        var show = await CreatedAsync(organizer.PostAsJsonAsync("/shows", new
        {
            event_id = IdOf(film),
            venue_id = IdOf(venue),
            starts_at = DateTimeOffset.UtcNow.AddDays(3),
            currency = "GBP",
            prices = new Dictionary<string, long> { ["standard"] = 1500 },
        }));
        await ResolvesAsync(organizer, show, "show_id");

        using var anonymous = App.CreateClient();
        using var registered = await anonymous.PostAsJsonAsync("/auth/register", new { email = $"loc{Guid.NewGuid():N}@example.com", password = "located password 1" });
        Assert.Equal(HttpStatusCode.Created, registered.StatusCode);
        var tokens = (await registered.Content.ReadFromJsonAsync<System.Text.Json.Nodes.JsonObject>())!;
        var customer = App.CreateClient();
        customer.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", tokens["access_token"]!.GetValue<string>());
        await ResolvesAsync(customer, registered.Headers.Location!, "user_id");
        await organizer.GetAsync(registered.Headers.Location).ExpectAsync(HttpStatusCode.NotFound); // someone else's account

        var showPath = show.OriginalString;
        var hold = await CreatedAsync(customer.PostAsJsonAsync($"{showPath}/holds", new { seats = new[] { "A1", "A2" } }));
        var held = await customer.GetAsync(hold).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(("active", 3000L, 2), (held["status"]!.GetValue<string>(), held["total_minor"]!.GetValue<long>(), held["seats"]!.AsArray().Count));
        await organizer.GetAsync(hold).ExpectAsync(HttpStatusCode.NotFound); // someone else's hold

        var booking = await CreatedAsync(customer.PostAsync($"{hold.OriginalString}/booking", null));
        await ResolvesAsync(customer, booking, "booking_id");
        var booked = await customer.GetAsync(hold).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("booked", booked["status"]!.GetValue<string>());
        Assert.Equal(IdOf(booking), booked["booking_id"]!.GetValue<long>());
    }
}

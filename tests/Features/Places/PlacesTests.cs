using System.Net;
using System.Net.Http.Json;
using Holdfast.Tests.Infrastructure;

namespace Holdfast.Tests.Features.Places;

public sealed class PlacesTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    private TestApp App => fixture.App;

    [Fact]
    public async Task An_admin_adds_a_city_and_its_airport_and_flights_from_it_are_searchable_by_either()
    {
        var admin = (await App.AdminAsync()).Client;
        var city = await admin.PostAsJsonAsync("/cities", new { name = "Ísafjörður", country = "Iceland", time_zone = "Atlantic/Reykjavik" }).ExpectAsync(HttpStatusCode.Created);
        var cityId = city["id"]!.GetValue<long>();
        await admin.PostAsJsonAsync("/airports", new { iata = "IFJ", icao = "BIIS", name = "Ísafjörður Airport", city_id = cityId, latitude = 66.058, longitude = -23.135, time_zone = "Atlantic/Reykjavik" })
            .ExpectAsync(HttpStatusCode.Created);
        await TestCatalogue.AirportAsync(App.DataSource, "RKV", "Reykjavik", "Iceland", "Atlantic/Reykjavik");
        var show = await TestCatalogue.ShowAsync(App.DataSource, kind: "flight", originIata: "IFJ", destinationIata: "RKV", timeZone: "Atlantic/Reykjavik", currency: "ISK");

        using var anyone = App.CreateClient();
        var byName = await anyone.GetAsync($"/shows?origin={Uri.EscapeDataString("ísafjörður")}").ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(show.ShowId, byName["items"]![0]!["show_id"]!.GetValue<long>());

        await admin.PostAsJsonAsync("/cities", new { name = "Ísafjörður", country = "Iceland", time_zone = "Atlantic/Reykjavik" }).ExpectAsync(HttpStatusCode.Conflict);
        await admin.PostAsJsonAsync("/airports", new { iata = "IFJ", name = "Again", city_id = cityId, latitude = 0, longitude = 0, time_zone = "UTC" }).ExpectAsync(HttpStatusCode.Conflict);
    }

    [Fact]
    public async Task Cities_and_airports_are_listed_filtered_and_paged_with_an_etag()
    {
        var admin = (await App.AdminAsync()).Client;
        var country = $"Pagestan {Guid.NewGuid():N}"[..30];
        var ids = new List<long>();
        foreach (var name in new[] { "Alpha_ville", "Betaburg", "Alphaport" })
        {
            ids.Add((await admin.PostAsJsonAsync("/cities", new { name, country, time_zone = "UTC" }).ExpectAsync(HttpStatusCode.Created))["id"]!.GetValue<long>());
        }

        using var anyone = App.CreateClient();
        var first = await anyone.GetAsync($"/cities?country={Uri.EscapeDataString(country)}&limit=2").ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(ids[..2], first["items"]!.AsArray().Select(c => c!["city_id"]!.GetValue<long>()));
        var next = await anyone.GetAsync($"/cities?country={Uri.EscapeDataString(country)}&limit=2&after_id={first["next_after_id"]}").ExpectAsync(HttpStatusCode.OK);
        Assert.Equal([ids[2]], next["items"]!.AsArray().Select(c => c!["city_id"]!.GetValue<long>()));
        Assert.Null(next["next_after_id"]);

        // q matches inside the name, with the user's _ literal: "alpha_" finds Alpha_ville, not Alphaport.
        var found = await anyone.GetAsync($"/cities?country={Uri.EscapeDataString(country)}&q=alpha_").ExpectAsync(HttpStatusCode.OK);
        Assert.Equal([ids[0]], found["items"]!.AsArray().Select(c => c!["city_id"]!.GetValue<long>()));

        using var tagged = await anyone.GetAsync($"/cities?country={Uri.EscapeDataString(country)}");
        var etag = tagged.Headers.ETag!;
        using var again = new HttpRequestMessage(HttpMethod.Get, $"/cities?country={Uri.EscapeDataString(country)}");
        again.Headers.IfNoneMatch.Add(etag);
        using var notModified = await anyone.SendAsync(again);
        Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);

        await admin.PostAsJsonAsync("/airports", new { iata = "PQZ", name = "Pagestan Field", city_id = ids[1], latitude = 1.0, longitude = 2.0, time_zone = "UTC" }).ExpectAsync(HttpStatusCode.Created);
        var airports = await anyone.GetAsync($"/airports?city_id={ids[1]}").ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("PQZ", Assert.Single(airports["items"]!.AsArray())!["iata"]!.GetValue<string>());
        await anyone.GetAsync("/cities?limit=0").ExpectAsync(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task An_admin_corrects_places_and_deletes_only_what_nothing_refers_to()
    {
        var (admin, adminId) = await App.AdminAsync();
        var cityId = (await admin.PostAsJsonAsync("/cities", new { name = "Typo Cty", country = "Norway", time_zone = "UTC" }).ExpectAsync(HttpStatusCode.Created))["id"]!.GetValue<long>();
        await admin.PatchAsJsonAsync($"/cities/{cityId}", new { name = "Tromsø", time_zone = "Europe/Oslo" }).ExpectAsync(HttpStatusCode.NoContent);
        var city = await admin.GetAsync($"/cities/{cityId}").ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(("Tromsø", "Norway", "Europe/Oslo"), (city["name"]!.GetValue<string>(), city["country"]!.GetValue<string>(), city["time_zone"]!.GetValue<string>()));
        Assert.Equal("Typo Cty", await App.DataSource.ScalarAsync<string>(
            "select before->>'name' from audit_log where entity = 'city' and entity_id = $1 and action = 'city.updated' and actor_user_id = $2", cityId, adminId));
        await admin.PatchAsJsonAsync($"/cities/{cityId}", new { time_zone = "Europe/Atlantis" }).ExpectAsync(HttpStatusCode.BadRequest);

        var airportId = (await admin.PostAsJsonAsync("/airports", new { iata = "TQS", name = "Tromsø Lufthavn", city_id = cityId, latitude = 69.68, longitude = 18.92, time_zone = "Europe/Oslo" })
            .ExpectAsync(HttpStatusCode.Created))["id"]!.GetValue<long>();
        await admin.PatchAsJsonAsync($"/airports/{airportId}", new { icao = "ENTC" }).ExpectAsync(HttpStatusCode.NoContent);
        Assert.Equal("ENTC", (await admin.GetAsync($"/airports/{airportId}").ExpectAsync(HttpStatusCode.OK))["icao"]!.GetValue<string>());

        var inUse = await admin.DeleteAsync($"/cities/{cityId}").ExpectAsync(HttpStatusCode.Conflict);
        Assert.Equal(1, inUse["referenced_by"]!["airports"]!.GetValue<int>());
        await admin.DeleteAsync($"/airports/{airportId}").ExpectAsync(HttpStatusCode.NoContent);
        await admin.DeleteAsync($"/cities/{cityId}").ExpectAsync(HttpStatusCode.NoContent);
        await admin.GetAsync($"/cities/{cityId}").ExpectAsync(HttpStatusCode.NotFound);
        await admin.DeleteAsync($"/cities/{cityId}").ExpectAsync(HttpStatusCode.NotFound);
    }

    [Theory]
    [InlineData("""{"name":"X","country":"Y","time_zone":"Mars/Olympus_Mons"}""", "/cities", "time_zone")]
    [InlineData("""{"name":"","country":"Y","time_zone":"UTC"}""", "/cities", "name")]
    [InlineData("""{"iata":"ab","name":"X","city_id":1,"latitude":0,"longitude":0,"time_zone":"UTC"}""", "/airports", "iata")]
    [InlineData("""{"iata":"ABQ","name":"X","city_id":1,"latitude":91,"longitude":0,"time_zone":"UTC"}""", "/airports", "latitude")]
    [InlineData("""{"iata":"ABQ","name":"X","city_id":987654,"latitude":0,"longitude":0,"time_zone":"UTC"}""", "/airports", "city_id")]
    public async Task Invalid_places_return_400_naming_the_field(string body, string path, string field)
    {
        var admin = (await App.AdminAsync()).Client;
        using var content = new StringContent(body, System.Text.Encoding.UTF8, "application/json");
        var problem = await admin.PostAsync(path, content).ExpectAsync(HttpStatusCode.BadRequest);
        Assert.True(problem["errors"]!.AsObject().ContainsKey(field), problem.ToJsonString());
    }
}

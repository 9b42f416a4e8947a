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

using System.Net;
using System.Net.Http.Json;
using Holdfast.Tests.Infrastructure;

namespace Holdfast.Tests.Features.Events;

public sealed class ListEventsTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    private TestApp App => fixture.App;

    [Fact]
    public async Task Events_are_listed_newest_first_by_kind_title_and_owner_in_keyset_pages()
    {
        var (organizer, organizerId) = await App.OrganizerAsync();
        var (other, _) = await App.OrganizerAsync();
        var tag = Guid.NewGuid().ToString("N")[..8];
        var ids = new List<long>();
        foreach (var title in new[] { $"Listed {tag} one", $"Listed {tag} two", $"Listed {tag} three" })
        {
            ids.Add((await organizer.PostAsJsonAsync("/events", new { kind = "film", title, duration_minutes = 90 }).ExpectAsync(HttpStatusCode.Created))["event_id"]!.GetValue<long>());
        }

        await other.PostAsJsonAsync("/events", new { kind = "film", title = $"Listed {tag} by another", duration_minutes = 90 }).ExpectAsync(HttpStatusCode.Created);

        var first = await organizer.GetAsync($"/events?q={tag}&mine=true&limit=2").ExpectAsync(HttpStatusCode.OK);
        Assert.Equal([ids[2], ids[1]], first["items"]!.AsArray().Select(e => e!["event_id"]!.GetValue<long>()));
        Assert.All(first["items"]!.AsArray(), e => Assert.Equal(organizerId, e!["owner_user_id"]!.GetValue<long>()));
        var next = await organizer.GetAsync($"/events?q={tag}&mine=true&limit=2&before_id={first["next_before_id"]}").ExpectAsync(HttpStatusCode.OK);
        Assert.Equal([ids[0]], next["items"]!.AsArray().Select(e => e!["event_id"]!.GetValue<long>()));
        Assert.Null(next["next_before_id"]);

        using var anyone = App.CreateClient();
        var everyone = await anyone.GetAsync($"/events?q={tag}&kind=film").ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(4, everyone["items"]!.AsArray().Count);
        Assert.Empty((await anyone.GetAsync($"/events?q={tag}&kind=flight").ExpectAsync(HttpStatusCode.OK))["items"]!.AsArray());
        await anyone.GetAsync("/events?mine=true").ExpectAsync(HttpStatusCode.Unauthorized);
        var invalid = await anyone.GetAsync("/events?kind=opera&limit=0").ExpectAsync(HttpStatusCode.BadRequest);
        Assert.NotNull(invalid["errors"]!["kind"]);
        Assert.NotNull(invalid["errors"]!["limit"]);
    }
}

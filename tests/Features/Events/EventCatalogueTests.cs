using System.Buffers.Binary;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Holdfast.Tests.Infrastructure;

namespace Holdfast.Tests.Features.Events;

public sealed class EventCatalogueTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    private TestApp App => fixture.App;

    private static long Id(JsonObject body, string field) => body[field]!.GetValue<long>();

    private static long[] Ids(JsonObject page, string field) => [.. page["items"]!.AsArray().Select(i => i![field]!.GetValue<long>())];

    /// <summary>An organizer with a hall in a London city, ready to schedule.</summary>
    private async Task<(HttpClient Organizer, long VenueId)> OrganizerWithHallAsync()
    {
        var (admin, _) = await App.AdminAsync();
        var city = Id(await admin.PostAsJsonAsync("/cities", new { name = $"Filmtown {Guid.NewGuid():N}", country = "Testland", time_zone = "Europe/London" })
            .ExpectAsync(HttpStatusCode.Created), "id");
        var (organizer, _) = await App.OrganizerAsync();
        var venue = Id(await organizer.PostAsJsonAsync("/venues", new
        {
            name = $"Hall {Guid.NewGuid():N}",
            kind = "cinema_hall",
            city_id = city,
            layout = new { sections = new object[] { new { name = "stalls", category = "standard", rows = "A", seats = "1-4" } } },
        }).ExpectAsync(HttpStatusCode.Created), "venue_id");
        return (organizer, venue);
    }

    private static async Task<long> ShowAsync(HttpClient organizer, long eventId, long venueId, int daysAhead) =>
        Id(await organizer.PostAsJsonAsync("/shows", new
        {
            event_id = eventId,
            venue_id = venueId,
            starts_at = DateTimeOffset.UtcNow.AddDays(daysAhead),
            currency = "GBP",
            prices = new Dictionary<string, long> { ["standard"] = 900 },
        }).ExpectAsync(HttpStatusCode.Created), "show_id");

    private static Task<long[]> SearchAsync(HttpClient client, string tag) =>
        client.GetFromJsonAsync<JsonObject>($"/shows?q={tag}").ContinueWith(t => Ids(t.Result!, "show_id"), TaskScheduler.Default);

    [Fact]
    public async Task A_draft_is_seen_only_by_its_owner_and_admins_and_its_shows_stay_out_of_search_until_it_is_active()
    {
        var (organizer, venue) = await OrganizerWithHallAsync();
        var (admin, _) = await App.AdminAsync();
        var (other, _) = await App.OrganizerAsync();
        using var anyone = App.CreateClient();
        var tag = Guid.NewGuid().ToString("N")[..10];
        var draft = Id(await organizer.PostAsJsonAsync("/events", new { kind = "film", title = $"Draft {tag}", duration_minutes = 90, status = "draft", description = "Soon." })
            .ExpectAsync(HttpStatusCode.Created), "event_id");
        var show = await ShowAsync(organizer, draft, venue, 6);

        var own = await organizer.GetAsync($"/events/{draft}").ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("draft", own["status"]!.GetValue<string>());
        Assert.Equal("Soon.", own["description"]!.GetValue<string>());
        await admin.GetAsync($"/events/{draft}").ExpectAsync(HttpStatusCode.OK);
        await other.GetAsync($"/events/{draft}").ExpectAsync(HttpStatusCode.NotFound);
        await anyone.GetAsync($"/events/{draft}").ExpectAsync(HttpStatusCode.NotFound);
        Assert.Empty(Ids(await anyone.GetAsync($"/events?q={tag}").ExpectAsync(HttpStatusCode.OK), "event_id"));
        Assert.Empty(Ids(await other.GetAsync($"/events?q={tag}&status=draft").ExpectAsync(HttpStatusCode.OK), "event_id"));
        Assert.Equal([draft], Ids(await organizer.GetAsync($"/events?q={tag}&mine=true").ExpectAsync(HttpStatusCode.OK), "event_id"));
        Assert.Equal([draft], Ids(await admin.GetAsync($"/events?q={tag}&status=draft").ExpectAsync(HttpStatusCode.OK), "event_id"));
        Assert.Empty(await SearchAsync(anyone, tag));

        await organizer.PatchAsJsonAsync($"/events/{draft}", new { status = "active" }).ExpectAsync(HttpStatusCode.NoContent);
        await Eventually.EqualAsync(show, async () => (await SearchAsync(anyone, tag)).SingleOrDefault());
        Assert.Equal([draft], Ids(await anyone.GetAsync($"/events?q={tag}").ExpectAsync(HttpStatusCode.OK), "event_id"));
    }

    [Fact]
    public async Task An_archived_event_leaves_search_takes_no_new_show_and_never_returns()
    {
        var (organizer, venue) = await OrganizerWithHallAsync();
        using var anyone = App.CreateClient();
        var tag = Guid.NewGuid().ToString("N")[..10];
        var film = Id(await organizer.PostAsJsonAsync("/events", new { kind = "film", title = $"Archived {tag}", duration_minutes = 90 }).ExpectAsync(HttpStatusCode.Created), "event_id");
        var show = await ShowAsync(organizer, film, venue, 6);
        await Eventually.EqualAsync(show, async () => (await SearchAsync(anyone, tag)).SingleOrDefault());

        var backwards = await organizer.PatchAsJsonAsync($"/events/{film}", new { status = "draft" }).ExpectAsync(HttpStatusCode.Conflict);
        Assert.Equal("active", backwards["from"]!.GetValue<string>());
        await organizer.PatchAsJsonAsync($"/events/{film}", new { status = "archived" }).ExpectAsync(HttpStatusCode.NoContent);

        await Eventually.EqualAsync(0, async () => (await SearchAsync(anyone, tag)).Length);
        var refused = await organizer.PostAsJsonAsync("/shows", new
        {
            event_id = film,
            venue_id = venue,
            starts_at = DateTimeOffset.UtcNow.AddDays(9),
            currency = "GBP",
            prices = new Dictionary<string, long> { ["standard"] = 900 },
        }).ExpectAsync(HttpStatusCode.Conflict);
        Assert.Equal("Event archived.", refused["title"]!.GetValue<string>());
        await organizer.PatchAsJsonAsync($"/events/{film}", new { status = "active" }).ExpectAsync(HttpStatusCode.Conflict);
        await anyone.GetAsync($"/shows/{show}").ExpectAsync(HttpStatusCode.OK); // what was sold still runs
        Assert.Empty(Ids(await anyone.GetAsync($"/events?q={tag}").ExpectAsync(HttpStatusCode.OK), "event_id"));
        Assert.Equal([film], Ids(await anyone.GetAsync($"/events?q={tag}&status=archived").ExpectAsync(HttpStatusCode.OK), "event_id"));
        var audit = await App.DataSource.ScalarAsync<string>(
            $"select after->>'status' from audit_log where entity = 'event' and entity_id = {film} and action = 'event.updated' order by audit_log_id desc limit 1");
        Assert.Equal("archived", audit);
    }

    [Fact]
    public async Task Now_showing_lists_released_films_with_shows_to_come_and_coming_soon_lists_films_released_later()
    {
        var (organizer, venue) = await OrganizerWithHallAsync();
        using var anyone = App.CreateClient();
        var tag = Guid.NewGuid().ToString("N")[..10];
        var today = DateOnly.FromDateTime(DateTime.UtcNow);
        async Task<long> FilmAsync(string title, DateOnly? release) =>
            Id(await organizer.PostAsJsonAsync("/events", new { kind = "film", title = $"{title} {tag}", duration_minutes = 90, release_date = release })
                .ExpectAsync(HttpStatusCode.Created), "event_id");
        var released = await FilmAsync("Released", today.AddDays(-10));
        var undated = await FilmAsync("Undated", null);
        var releasedNoShows = await FilmAsync("Released without shows", today.AddDays(-3));
        var soon = await FilmAsync("Soon", today.AddDays(20));
        await ShowAsync(organizer, released, venue, 2);
        await ShowAsync(organizer, undated, venue, 3);
        await ShowAsync(organizer, soon, venue, 25); // a preview screening: still coming soon, not now showing

        var now = await anyone.GetAsync($"/events?kind=film&showing=now&q={tag}").ExpectAsync(HttpStatusCode.OK);
        Assert.Equal([undated, released], Ids(now, "event_id"));
        Assert.Equal(today.AddDays(-10).ToString("yyyy-MM-dd"), now["items"]![1]!["release_date"]!.GetValue<string>());
        Assert.Equal([soon], Ids(await anyone.GetAsync($"/events?kind=film&showing=soon&q={tag}").ExpectAsync(HttpStatusCode.OK), "event_id"));
        Assert.DoesNotContain(releasedNoShows, Ids(now, "event_id"));
        var invalid = await anyone.GetAsync("/events?showing=later").ExpectAsync(HttpStatusCode.BadRequest);
        Assert.NotNull(invalid["errors"]!["showing"]);
    }

    /// <summary>A PNG signature and IHDR chunk of the given size, padded to <paramref name="length"/> bytes.</summary>
    private static byte[] Png(int width, int height, int length = 64)
    {
        var bytes = new byte[length];
        byte[] head = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, (byte)'I', (byte)'H', (byte)'D', (byte)'R'];
        head.CopyTo(bytes, 0);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(16), (uint)width);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(20), (uint)height);
        bytes[24] = 8; // bit depth
        bytes[25] = 6; // RGBA
        bytes[^1] = (byte)Random.Shared.Next(256); // a fresh image each call, unless the caller reuses it
        return bytes;
    }

    private static ByteArrayContent Image(byte[] bytes, string mediaType)
    {
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
        return content;
    }

    [Fact]
    public async Task A_poster_is_stored_once_by_content_hash_and_served_immutable_with_an_etag_and_304()
    {
        var (organizer, _) = await OrganizerWithHallAsync();
        var (other, _) = await App.OrganizerAsync();
        var one = Id(await organizer.PostAsJsonAsync("/events", new { kind = "film", title = "Poster one", duration_minutes = 90 }).ExpectAsync(HttpStatusCode.Created), "event_id");
        var two = Id(await organizer.PostAsJsonAsync("/events", new { kind = "film", title = "Poster two", duration_minutes = 90 }).ExpectAsync(HttpStatusCode.Created), "event_id");
        var png = Png(600, 900);

        var stored = await organizer.PutAsync($"/events/{one}/poster", Image(png, "image/png")).ExpectAsync(HttpStatusCode.OK);
        await organizer.PutAsync($"/events/{two}/poster", Image(png, "application/octet-stream")).ExpectAsync(HttpStatusCode.OK);
        var hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(png));
        Assert.Equal($"/posters/{hash}", stored["poster_url"]!.GetValue<string>());
        Assert.Equal(600, stored["width"]!.GetValue<int>());
        Assert.Equal(900, stored["height"]!.GetValue<int>());
        Assert.Equal($"/posters/{hash}", (await organizer.GetAsync($"/events/{two}").ExpectAsync(HttpStatusCode.OK))["poster_url"]!.GetValue<string>());
        Assert.Equal(1L, await App.DataSource.ScalarAsync<long>("select count(*) from poster_image where sha256 = decode($1, 'hex')", hash));
        await other.PutAsync($"/events/{one}/poster", Image(Png(10, 10), "image/png")).ExpectAsync(HttpStatusCode.NotFound);

        using var anyone = App.CreateClient();
        using var served = await anyone.GetAsync($"/posters/{hash}");
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        Assert.Equal("image/png", served.Content.Headers.ContentType!.MediaType);
        Assert.Equal(png, await served.Content.ReadAsByteArrayAsync());
        Assert.Equal("public, max-age=31536000, immutable", served.Headers.CacheControl!.ToString());
        Assert.Equal($"\"{hash}\"", served.Headers.ETag!.Tag);
        using var conditional = new HttpRequestMessage(HttpMethod.Get, $"/posters/{hash}");
        conditional.Headers.IfNoneMatch.Add(served.Headers.ETag);
        using var notModified = await anyone.SendAsync(conditional);
        Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);
        Assert.Empty(await notModified.Content.ReadAsByteArrayAsync());
        await anyone.GetAsync($"/posters/{new string('0', 64)}").ExpectAsync(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task A_poster_is_typed_by_its_magic_bytes_and_limited_in_size()
    {
        var (organizer, _) = await OrganizerWithHallAsync();
        var film = Id(await organizer.PostAsJsonAsync("/events", new { kind = "film", title = "Poster checks", duration_minutes = 90 }).ExpectAsync(HttpStatusCode.Created), "event_id");

        // A GIF, however it is labelled, is refused 415 naming the body.
        var gif = await organizer.PutAsync($"/events/{film}/poster", Image("GIF89a\x01\x00\x01\x00"u8.ToArray(), "image/png")).ExpectAsync(HttpStatusCode.UnsupportedMediaType);
        Assert.NotNull(gif["errors"]!["body"]);
        // Over the 2 MiB default: 413 naming the body, before anything is stored.
        var large = await organizer.PutAsync($"/events/{film}/poster", Image(Png(100, 100, 2 * 1024 * 1024 + 1), "image/png")).ExpectAsync(HttpStatusCode.RequestEntityTooLarge);
        Assert.NotNull(large["errors"]!["body"]);
        // A PNG signature without a readable header.
        await organizer.PutAsync($"/events/{film}/poster", Image(Png(0, 0), "image/png")).ExpectAsync(HttpStatusCode.BadRequest);
        Assert.Null((await organizer.GetAsync($"/events/{film}").ExpectAsync(HttpStatusCode.OK))["poster_url"]);

        // JPEG: SOI, an APP0 segment, then SOF0 with height 100 and width 200.
        byte[] jpeg = [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x00, 0x00, 0xFF, 0xC0, 0x00, 0x11, 0x08, 0x00, 0x64, 0x00, 0xC8, 0x03, 0x01, 0x22, 0x00, 0xFF, 0xD9];
        var asJpeg = await organizer.PutAsync($"/events/{film}/poster", Image(jpeg, "image/jpeg")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(("image/jpeg", 200, 100), (asJpeg["media_type"]!.GetValue<string>(), asJpeg["width"]!.GetValue<int>(), asJpeg["height"]!.GetValue<int>()));
        // WebP: RIFF/WEBP with a VP8X chunk giving 320 × 480 (stored minus one, 24-bit little-endian).
        var webp = new byte[40];
        "RIFF"u8.CopyTo(webp);
        "WEBPVP8X"u8.CopyTo(webp.AsSpan(8));
        webp[24] = 319 & 0xFF;
        webp[25] = 319 >> 8;
        webp[27] = 479 & 0xFF;
        webp[28] = 479 >> 8;
        var asWebp = await organizer.PutAsync($"/events/{film}/poster", Image(webp, "image/webp")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(("image/webp", 320, 480), (asWebp["media_type"]!.GetValue<string>(), asWebp["width"]!.GetValue<int>(), asWebp["height"]!.GetValue<int>()));
        Assert.Equal(asWebp["poster_url"]!.GetValue<string>(), (await organizer.GetAsync($"/events/{film}").ExpectAsync(HttpStatusCode.OK))["poster_url"]!.GetValue<string>());
        Assert.Equal(2L, await App.DataSource.ScalarAsync<long>($"select count(*) from audit_log where action = 'event.poster_set' and entity_id = {film}"));
    }
}

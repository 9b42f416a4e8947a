using System.Collections;
using System.Net;
using System.Net.Http.Json;
using System.Reflection;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Holdfast.Tests.Infrastructure;

/// <summary>
/// Input PostgreSQL cannot store, and bodies too large to read, on every endpoint: a 400 or 413
/// naming the field, never a 500, and nothing read into memory past the limit.
/// </summary>
public sealed class HostileInputTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    private const string Nul = "a\u0000b";
    private TestApp App => fixture.App;

    // Every endpoint that takes a JSON body with a string in it, with the body's type.
    private IEnumerable<(string Method, string Route, Type Body)> BodyEndpoints()
    {
        foreach (var endpoint in App.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>())
        {
            var accepts = endpoint.Metadata.GetMetadata<IAcceptsMetadata>();
            if (accepts?.RequestType is { } type && accepts.ContentTypes.Contains("application/json") && Strings(type, 0).Any())
            {
                foreach (var method in endpoint.Metadata.GetMetadata<HttpMethodMetadata>()!.HttpMethods)
                {
                    yield return (method, endpoint.RoutePattern.RawText!, type);
                }
            }
        }
    }

    [Fact]
    public async Task A_nul_in_any_string_of_any_json_body_is_a_400_naming_the_field()
    {
        var (admin, _) = await App.AdminAsync();
        var endpoints = BodyEndpoints().ToList();
        var wrong = new List<string>();
        foreach (var (method, route, type) in endpoints)
        {
            var path = System.Text.RegularExpressions.Regex.Replace(route, "{[^}]+}", "1");
            using var request = new HttpRequestMessage(new HttpMethod(method), path) { Content = new StringContent(Body(type, 0).ToJsonString(), Encoding.UTF8, "application/json") };
            using var response = await admin.SendAsync(request);
            var text = await response.Content.ReadAsStringAsync();
            var errors = response.StatusCode == HttpStatusCode.BadRequest ? JsonNode.Parse(text)!["errors"]?.AsObject() : null;
            var named = errors?.Any(e => e.Value![0]!.GetValue<string>().Contains("U+0000", StringComparison.Ordinal)
                && Strings(type, 0).Any(name => e.Key == name || e.Key.EndsWith("." + name, StringComparison.Ordinal) || e.Key.StartsWith(name + "[", StringComparison.Ordinal))) == true;
            if (!named)
            {
                wrong.Add($"{method} {route}: {(int)response.StatusCode} {text}");
            }
        }

        Assert.True(endpoints.Count >= 20, $"only {endpoints.Count} endpoints with a JSON body found");
        Assert.Empty(wrong);
    }

    [Fact]
    public async Task A_nul_in_a_query_value_is_a_400_naming_it_on_every_endpoint()
    {
        var endpoints = App.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>().ToList();
        var anonymous = App.CreateClient();
        var wrong = new List<string>();
        foreach (var endpoint in endpoints)
        {
            foreach (var method in endpoint.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? ["GET"])
            {
                var path = System.Text.RegularExpressions.Regex.Replace(endpoint.RoutePattern.RawText!, "{[^}]+}", "1").Replace("1.json", "v1.json", StringComparison.Ordinal);
                using var response = await anonymous.SendAsync(new HttpRequestMessage(new HttpMethod(method), path + "?probe=%00"));
                var text = await response.Content.ReadAsStringAsync();
                if (response.StatusCode != HttpStatusCode.BadRequest || !text.Contains("\"probe\"", StringComparison.Ordinal))
                {
                    wrong.Add($"{method} {path}: {(int)response.StatusCode}");
                }
            }
        }

        Assert.True(endpoints.Count > 50);
        Assert.Empty(wrong);
    }

    [Theory]
    [InlineData("q")]
    [InlineData("origin")]
    [InlineData("destination")]
    [InlineData("category")]
    public async Task Search_with_a_nul_in_a_filter_is_a_400_naming_it(string parameter)
    {
        var problem = await App.CreateClient().GetAsync($"/shows?{parameter}=x%00y").ExpectAsync(HttpStatusCode.BadRequest);

        Assert.NotNull(problem["errors"]![parameter]);
    }

    [Fact]
    public async Task An_unpaired_surrogate_is_a_400_naming_the_field()
    {
        var problem = await App.CreateClient().PostAsync("/auth/register",
            new StringContent("""{"email":"x\ud800@example.com","password":"correct horse battery"}""", Encoding.UTF8, "application/json"))
            .ExpectAsync(HttpStatusCode.BadRequest);

        Assert.NotNull(problem["errors"]!["email"]);
    }

    [Fact]
    public async Task A_10_MB_hold_body_is_refused_with_413_before_it_is_read()
    {
        var show = await TestCatalogue.ShowAsync(App.DataSource);
        var (client, _) = await App.CustomerAsync();
        var seats = string.Join(',', Enumerable.Repeat("\"1A\"", 2_000_000));
        var body = $$"""{"seats":[{{seats}}]}""";
        Assert.True(body.Length > 10_000_000);

        var declared = await client.PostAsync($"/shows/{show.ShowId}/holds", new StringContent(body, Encoding.UTF8, "application/json")).ExpectAsync(HttpStatusCode.RequestEntityTooLarge);
        // Chunked: no Content-Length to refuse up front, so the read is cut off at the limit.
        using var chunked = new HttpRequestMessage(HttpMethod.Post, $"/shows/{show.ShowId}/holds") { Content = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(body))) };
        chunked.Content.Headers.ContentType = new("application/json");
        chunked.Headers.TransferEncodingChunked = true;
        var streamed = await client.SendAsync(chunked).ExpectAsync(HttpStatusCode.RequestEntityTooLarge);

        Assert.True(declared["title"]?.GetValue<string>() == "The request body is too large.", declared.ToJsonString());
        Assert.True(streamed["errors"]?["body"] is not null, streamed.ToJsonString());
        Assert.Equal(0L, await App.DataSource.ScalarAsync<long>($"select count(*) from hold h join show_seat s using (hold_id) where s.show_id = {show.ShowId}"));
    }

    [Fact]
    public async Task A_seat_layout_may_be_larger_than_a_json_command()
    {
        var (organizer, _) = await App.OrganizerAsync();
        var sections = Enumerable.Range(1, 600).Select(i => new { name = $"section {i} with a long descriptive name to take up room", category = "standard", rows = "1-2", seats = "AB" }).ToArray();
        var body = JsonSerializer.Serialize(new { name = "Big hall", kind = "hall", layout = new { sections } });
        Assert.True(body.Length > 64 * 1024);

        using var response = await organizer.PostAsync("/venues", new StringContent(body, Encoding.UTF8, "application/json"));

        Assert.NotEqual(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.True((int)response.StatusCode < 500, await response.Content.ReadAsStringAsync());
    }

    // The JSON names of the string members reachable from type (snake_case, as on the wire).
    private static IEnumerable<string> Strings(Type type, int depth)
    {
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite || p.GetSetMethod(true) is not null || type.GetConstructors().Any(c => c.GetParameters().Any(a => a.Name == p.Name))))
        {
            var name = property.GetCustomAttribute<JsonPropertyNameAttribute>()?.Name ?? JsonNamingPolicy.SnakeCaseLower.ConvertName(property.Name);
            var element = ElementType(property.PropertyType);
            if (element == typeof(string))
            {
                yield return name;
            }
            else if (depth < 3 && IsRecord(element))
            {
                foreach (var inner in Strings(element, depth + 1))
                {
                    yield return inner;
                }
            }
        }
    }

    // A body whose every string member (however deep) holds a NUL; other members are omitted.
    private static JsonObject Body(Type type, int depth)
    {
        var body = new JsonObject();
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            var name = property.GetCustomAttribute<JsonPropertyNameAttribute>()?.Name ?? JsonNamingPolicy.SnakeCaseLower.ConvertName(property.Name);
            var isList = property.PropertyType != typeof(string) && typeof(IEnumerable).IsAssignableFrom(property.PropertyType);
            var element = ElementType(property.PropertyType);
            JsonNode? value = element == typeof(string) ? JsonValue.Create(Nul) : depth < 3 && IsRecord(element) ? Body(element, depth + 1) : null;
            if (value is not null)
            {
                body[name] = isList ? new JsonArray(value) : value;
            }
        }

        return body;
    }

    private static Type ElementType(Type type) =>
        type == typeof(string) ? type
        : type.IsArray ? type.GetElementType()!
        : type.IsGenericType && typeof(IEnumerable).IsAssignableFrom(type) ? type.GetGenericArguments()[^1]
        : Nullable.GetUnderlyingType(type) ?? type;

    private static bool IsRecord(Type type) => type.IsClass && type != typeof(string) && !type.IsAbstract && type.Namespace?.StartsWith("Holdfast", StringComparison.Ordinal) == true;
}

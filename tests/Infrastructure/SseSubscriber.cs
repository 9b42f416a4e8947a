using System.Diagnostics;
using System.Net.ServerSentEvents;
using System.Text.Json.Nodes;

namespace Holdfast.Tests.Infrastructure;

/// <summary>One received SSE event.</summary>
public sealed record SseEvent(string Type, string? Id, JsonObject Data);

/// <summary>Reads a Server-Sent Events response event by event, with a timeout on each wait.</summary>
public sealed class SseSubscriber : IAsyncDisposable
{
    private readonly HttpResponseMessage response;
    private readonly IAsyncEnumerator<SseItem<string>> events;
    private readonly CancellationTokenSource lifetime = new();

    private SseSubscriber(HttpResponseMessage response, Stream body)
    {
        this.response = response;
        events = SseParser.Create(body).EnumerateAsync(lifetime.Token).GetAsyncEnumerator(lifetime.Token);
    }

    public static async Task<SseSubscriber> OpenAsync(HttpClient client, string path, string? lastEventId = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (lastEventId is not null)
        {
            request.Headers.Add("Last-Event-ID", lastEventId);
        }

        var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        response.EnsureSuccessStatusCode();
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        return new SseSubscriber(response, await response.Content.ReadAsStreamAsync());
    }

    /// <summary>The next event as sent, heartbeats included.</summary>
    public async Task<SseEvent> NextRawAsync(TimeSpan timeout)
    {
        Assert.True(await events.MoveNextAsync().AsTask().WaitAsync(timeout), "The event stream ended.");
        var item = events.Current;
        return new SseEvent(item.EventType, item.EventId, JsonNode.Parse(item.Data)!.AsObject());
    }

    /// <summary>
    /// The next event that is not a heartbeat; fails the test when none comes within
    /// <paramref name="timeout"/> (default 10 s), however many heartbeats arrive meanwhile.
    /// </summary>
    public async Task<SseEvent> NextAsync(TimeSpan? timeout = null)
    {
        var deadline = Stopwatch.StartNew();
        var limit = timeout ?? TimeSpan.FromSeconds(10);
        while (true)
        {
            var left = limit - deadline.Elapsed;
            Assert.True(left > TimeSpan.Zero, $"No event but heartbeats for {limit.TotalSeconds:0} s.");
            var next = await NextRawAsync(left);
            if (next.Type != "heartbeat")
            {
                return next;
            }
        }
    }

    /// <summary>True when the server ends the stream within <paramref name="timeout"/> (events before the end are skipped).</summary>
    public async Task<bool> EndsWithinAsync(TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < timeout)
        {
            var next = events.MoveNextAsync().AsTask();
            if (await Task.WhenAny(next, Task.Delay(timeout - deadline.Elapsed)) != next)
            {
                return false;
            }

            if (!await next)
            {
                return true;
            }
        }

        return false;
    }

    public async ValueTask DisposeAsync()
    {
        await lifetime.CancelAsync();
        try
        {
            await events.DisposeAsync();
        }
        catch (OperationCanceledException)
        {
            // The stream was cancelled on purpose.
        }

        response.Dispose();
        lifetime.Dispose();
    }
}

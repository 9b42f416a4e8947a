using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Http.Json;
using Holdfast.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Holdfast.Tests.Infrastructure;

/// <summary>A <see cref="HoldfastMetrics"/> for workers built by hand in tests; nothing listens to it.</summary>
public static class TestMetrics
{
    private static readonly IMeterFactory Factory = new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<IMeterFactory>();

    public static HoldfastMetrics Create() => new(Factory);
}

/// <summary>
/// Listens in-process to the <c>Holdfast</c> meter of one app only: each app's meter comes from its
/// own <see cref="IMeterFactory"/>, which is the meter's scope, so apps of other test classes running
/// in parallel are not seen.
/// </summary>
public sealed class MeterCapture : IDisposable
{
    private readonly MeterListener listener = new();

    public MeterCapture(TestApp app)
    {
        var scope = app.Services.GetRequiredService<IMeterFactory>();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == HoldfastMetrics.MeterName && ReferenceEquals(instrument.Meter.Scope, scope))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((i, value, tags, _) => Add(i, value, tags));
        listener.SetMeasurementEventCallback<int>((i, value, tags, _) => Add(i, value, tags));
        listener.SetMeasurementEventCallback<double>((i, value, tags, _) => Add(i, value, tags));
        listener.Start();
    }

    public ConcurrentQueue<(string Name, double Value, Dictionary<string, string?> Tags)> Measurements { get; } = new();

    public IEnumerable<double> Values(string name, string? kind = null, string? outcome = null) =>
        Measurements.Where(m => m.Name == name
                                && (kind is null || m.Tags.GetValueOrDefault("kind") == kind)
                                && (outcome is null || m.Tags.GetValueOrDefault("outcome") == outcome))
            .Select(m => m.Value).ToList();

    /// <summary>Reads the observable instruments (the SSE subscriber gauge) now and returns its latest value.</summary>
    public double Observe(string name)
    {
        Measurements.Clear();
        listener.RecordObservableInstruments();
        return Values(name).LastOrDefault(double.NaN);
    }

    public void Dispose() => listener.Dispose();

    private void Add(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var copy = new Dictionary<string, string?>();
        foreach (var (key, tag) in tags)
        {
            copy[key] = tag?.ToString();
        }

        Measurements.Enqueue((instrument.Name, value, copy));
    }
}

/// <summary>Holds last one second, so the job worker expires them while a test waits.</summary>
public sealed class TelemetryFixture : AppFixture
{
    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?> { ["Holds:DurationSeconds"] = "1" };
}

public sealed class TelemetryTests(TelemetryFixture fixture) : IClassFixture<TelemetryFixture>
{
    private TestApp App => fixture.App;

    [Fact]
    public async Task A_hold_counts_as_taken_and_a_hold_of_a_taken_seat_as_a_conflict()
    {
        using var capture = new MeterCapture(App);
        var show = await TestCatalogue.ShowAsync(App.DataSource);
        var (first, _) = await App.CustomerAsync();
        var (second, _) = await App.CustomerAsync();

        await first.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "2A" } }).ExpectAsync(HttpStatusCode.Created);
        await second.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "2A" } }).ExpectAsync(HttpStatusCode.Conflict);
        await second.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { category = "premium", quantity = 7 }).ExpectAsync(HttpStatusCode.Conflict);

        Assert.Equal([1.0], capture.Values("holdfast.holds.taken"));
        Assert.Equal([1.0, 1.0], capture.Values("holdfast.holds.conflicts"));
    }

    [Fact]
    public async Task An_expired_hold_records_its_lateness_and_its_job_counts_as_completed()
    {
        using var capture = new MeterCapture(App);
        var show = await TestCatalogue.ShowAsync(App.DataSource);
        var (client, _) = await App.CustomerAsync();
        await client.PostAsJsonAsync($"/shows/{show.ShowId}/holds", new { seats = new[] { "3A" } }).ExpectAsync(HttpStatusCode.Created);

        await Eventually.EqualAsync(true, () => Task.FromResult(capture.Values("holdfast.jobs.finished", "hold.expire", "completed").Any()));

        var lateness = Assert.Single(capture.Values("holdfast.holds.expiry_lateness"));
        Assert.InRange(lateness, 0, 10);
    }

    [Fact]
    public async Task A_job_without_a_handler_counts_as_discarded()
    {
        using var capture = new MeterCapture(App);
        var kind = $"telemetry.test.{Guid.NewGuid():N}";
        await using (var command = App.DataSource.CreateCommand("insert into job (kind, run_at) values (@kind, now())"))
        {
            command.Parameters.AddWithValue("kind", kind);
            await command.ExecuteNonQueryAsync();
        }

        await Eventually.EqualAsync(1, () => Task.FromResult(capture.Values("holdfast.jobs.finished", kind, "discarded").Count()));
    }

    [Fact]
    public async Task The_seat_feed_subscriber_gauge_counts_open_streams()
    {
        using var capture = new MeterCapture(App);
        var show = await TestCatalogue.ShowAsync(App.DataSource);
        Assert.Equal(0, capture.Observe("holdfast.seat_feed.subscribers"));

        var feed = await SseSubscriber.OpenAsync(App.CreateClient(), $"/shows/{show.ShowId}/seats/stream");
        Assert.Equal("snapshot", (await feed.NextAsync()).Type);
        Assert.Equal(1, capture.Observe("holdfast.seat_feed.subscribers"));

        await feed.DisposeAsync();
        await Eventually.EqualAsync(0.0, () => Task.FromResult(capture.Observe("holdfast.seat_feed.subscribers")));
    }
}

/// <summary>With <c>Telemetry:OtlpEndpoint</c> set, traces and metrics reach a collector over OTLP/HTTP.</summary>
public sealed class OtlpExportTests
{
    [Fact]
    public async Task Traces_and_metrics_are_posted_as_protobuf_to_the_configured_endpoint()
    {
        var port = PostgresServer.FreePort();
        using var collector = new HttpListener();
        collector.Prefixes.Add($"http://127.0.0.1:{port}/");
        collector.Start();
        var received = new ConcurrentQueue<(string Path, string? ContentType)>();
        var accepting = Task.Run(async () =>
        {
            while (collector.IsListening)
            {
                HttpListenerContext context;
                try
                {
                    context = await collector.GetContextAsync();
                }
                catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException)
                {
                    return;
                }

                await context.Request.InputStream.CopyToAsync(Stream.Null);
                if (context.Request.HttpMethod == "POST")
                {
                    received.Enqueue((context.Request.Url!.AbsolutePath, context.Request.ContentType));
                }

                context.Response.StatusCode = 200;
                context.Response.Close();
            }
        });

        await using (var app = await TestApp.StartAsync(PostgresServer.Instance, new Dictionary<string, string?>
        {
            ["Telemetry:OtlpEndpoint"] = $"http://127.0.0.1:{port}",
            ["Telemetry:OtlpProtocol"] = "http/protobuf",
            ["Telemetry:ExportIntervalMilliseconds"] = "200",
        }))
        {
            Assert.True(app.Services.GetServices<Microsoft.Extensions.Hosting.IHostedService>().OfType<TelemetryExport>().Single().Exporting);
            var show = await TestCatalogue.ShowAsync(app.DataSource);
            await app.CreateClient().GetAsync($"/shows/{show.ShowId}").ExpectAsync(HttpStatusCode.OK);

            await Eventually.EqualAsync(true, () => Task.FromResult(
                received.Any(r => r.Path == "/v1/traces") && received.Any(r => r.Path == "/v1/metrics")));
        }

        Assert.All(received, r => Assert.Equal("application/x-protobuf", r.ContentType));
        Assert.All(received, r => Assert.Contains(r.Path, new[] { "/v1/traces", "/v1/metrics" }));
        collector.Stop();
        await accepting;
    }
}

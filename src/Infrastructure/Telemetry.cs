using System.ComponentModel.DataAnnotations;
using System.Diagnostics.Metrics;
using Holdfast.Infrastructure.SeatFeed;
using Microsoft.Extensions.Options;
using Npgsql;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Holdfast.Infrastructure;

/// <summary>Settings under <c>Telemetry</c> in configuration.</summary>
public sealed class TelemetryOptions
{
    /// <summary>
    /// Base URL of an OpenTelemetry collector, e.g. <c>http://otel-collector:4318</c>. Unset (the
    /// default), traces and metrics are exported only when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set.
    /// </summary>
    [RegularExpression("https?://.+", ErrorMessage = "{0} must be an absolute http or https URL.")]
    public string? OtlpEndpoint { get; set; }

    /// <summary><c>grpc</c> (default) or <c>http/protobuf</c>; used with <see cref="OtlpEndpoint"/>.</summary>
    [RegularExpression("(?i)grpc|http/protobuf", ErrorMessage = "{0} must be grpc or http/protobuf.")]
    public string OtlpProtocol { get; set; } = "grpc";

    /// <summary>How often traces and metrics are sent, in milliseconds; unset, the SDK's defaults (5 s and 60 s).</summary>
    [Range(1, 3_600_000)]
    public int? ExportIntervalMilliseconds { get; set; }
}

/// <summary>
/// The app's own instruments, on the meter <see cref="MeterName"/>. One per app (from its
/// <see cref="IMeterFactory"/>), so two apps in one process never mix their measurements.
/// </summary>
public sealed class HoldfastMetrics
{
    /// <summary>The meter name to subscribe to (<c>Holdfast</c>).</summary>
    public const string MeterName = "Holdfast";

    private readonly Counter<long> holdsTaken;
    private readonly Counter<long> holdConflicts;
    private readonly Histogram<double> expiryLateness;
    private readonly Counter<long> jobsFinished;
    private readonly Counter<long> jobLeasesLost;
    private readonly Counter<long> smsSegments;

    /// <summary>Creates the instruments; the SSE subscriber gauge reads <paramref name="hub"/> (none without one).</summary>
    public HoldfastMetrics(IMeterFactory meterFactory, SeatFeedHub? hub = null)
    {
        var meter = meterFactory.Create(MeterName);
        holdsTaken = meter.CreateCounter<long>("holdfast.holds.taken", "{hold}", "Holds taken.");
        holdConflicts = meter.CreateCounter<long>("holdfast.holds.conflicts", "{hold}", "Hold requests answered 409 because seats were gone.");
        expiryLateness = meter.CreateHistogram<double>("holdfast.holds.expiry_lateness", "s",
            "Seconds between a hold's expires_at and its release by the hold.expire job.");
        jobsFinished = meter.CreateCounter<long>("holdfast.jobs.finished", "{job}", "Job attempts by kind and outcome (completed, retried, discarded).");
        jobLeasesLost = meter.CreateCounter<long>("holdfast.jobs.leases_lost", "{job}",
            "Jobs whose lease was taken from a run still going on this node (rescued): another node may run them at the same time. Should stay 0.");
        smsSegments = meter.CreateCounter<long>("holdfast.sms.segments", "{segment}", "SMS segments sent (billed), by template and encoding.");
        if (hub is not null)
        {
            meter.CreateObservableUpDownCounter("holdfast.seat_feed.subscribers", () => hub.SubscriberCount, "{subscriber}",
                "SSE seat-feed subscribers on this node.");
        }
    }

    /// <summary>Counts a hold taken.</summary>
    public void HoldTaken() => holdsTaken.Add(1);

    /// <summary>Counts a hold refused because its seats were gone.</summary>
    public void HoldConflict() => holdConflicts.Add(1);

    /// <summary>Counts a hold refusal answered <paramref name="statusCode"/> when it is a 409 (seats gone).</summary>
    public void HoldConflictIf(int? statusCode)
    {
        if (statusCode == StatusCodes.Status409Conflict)
        {
            HoldConflict();
        }
    }

    /// <summary>Records how late a hold was released after <paramref name="expiresAt"/>.</summary>
    public void HoldExpired(DateTimeOffset expiresAt, DateTimeOffset releasedAt) =>
        expiryLateness.Record(Math.Max(0, (releasedAt - expiresAt).TotalSeconds));

    /// <summary>Counts a job attempt of <paramref name="kind"/> that ended <paramref name="outcome"/> (completed, retried, discarded).</summary>
    public void JobFinished(string kind, string outcome) =>
        jobsFinished.Add(1, new KeyValuePair<string, object?>("kind", kind), new KeyValuePair<string, object?>("outcome", outcome));

    /// <summary>Counts the <paramref name="segments"/> an SMS of <paramref name="template"/> was sent as, in <paramref name="encoding"/> (GSM-7 or UCS-2).</summary>
    public void SmsSent(string template, string encoding, int segments) =>
        smsSegments.Add(segments, new KeyValuePair<string, object?>("template", template), new KeyValuePair<string, object?>("encoding", encoding));

    /// <summary>Counts a job of <paramref name="kind"/> whose lease was lost while this node still ran it or was recording its outcome.</summary>
    public void JobLeaseLost(string kind) =>
        jobLeasesLost.Add(1, new KeyValuePair<string, object?>("kind", kind));
}

/// <summary>Registration of metrics and, when a collector is configured, OpenTelemetry export.</summary>
public static class Telemetry
{
    /// <summary>
    /// Adds <see cref="HoldfastMetrics"/>, and <see cref="TelemetryExport"/>, which at start-up, when
    /// <c>Telemetry:OtlpEndpoint</c> or <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set, exports OpenTelemetry
    /// traces and metrics of ASP.NET Core, HttpClient, Npgsql and the app by OTLP. Otherwise nothing
    /// listens: no cost beyond the instruments.
    /// </summary>
    public static IServiceCollection AddHoldfastTelemetry(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddSettings<TelemetryOptions>("Telemetry");
        services.AddSingleton<HoldfastMetrics>();
        services.AddHostedService<TelemetryExport>();
        return services;
    }
}

/// <summary>
/// Builds the tracer and meter providers when export is configured, and flushes and ends them on
/// shutdown. The decision is taken from the final configuration at start-up (not while services
/// are registered), so settings added late, as a test host adds them, count too.
/// </summary>
public sealed class TelemetryExport(IConfiguration configuration, IOptions<TelemetryOptions> options) : IHostedService, IDisposable
{
    private TracerProvider? tracing;
    private MeterProvider? metrics;

    /// <summary>True when this app exports (an endpoint is configured).</summary>
    public bool Exporting => tracing is not null;

    /// <inheritdoc />
    public Task StartAsync(CancellationToken cancellationToken)
    {
        var settings = options.Value;
        if (string.IsNullOrWhiteSpace(settings.OtlpEndpoint) && string.IsNullOrWhiteSpace(configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
        {
            return Task.CompletedTask;
        }

        var service = configuration["OTEL_SERVICE_NAME"] ?? "holdfast";
        tracing = Sdk.CreateTracerProviderBuilder()
            .ConfigureResource(resource => resource.AddService(service))
            .AddAspNetCoreInstrumentation()
            .AddHttpClientInstrumentation()
            .AddNpgsql()
            .AddOtlpExporter(o => Configure(o, settings, "v1/traces"))
            .Build();
        metrics = Sdk.CreateMeterProviderBuilder()
            .ConfigureResource(resource => resource.AddService(service))
            .AddAspNetCoreInstrumentation()
            .AddHttpClientInstrumentation()
            .AddMeter("Npgsql", HoldfastMetrics.MeterName)
            .AddOtlpExporter((o, reader) =>
            {
                Configure(o, settings, "v1/metrics");
                if (settings.ExportIntervalMilliseconds is { } interval)
                {
                    reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = interval;
                }
            })
            .Build();
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task StopAsync(CancellationToken cancellationToken)
    {
        // Sends what is buffered, within the shutdown's time.
        tracing?.ForceFlush(5000);
        metrics?.ForceFlush(5000);
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        tracing?.Dispose();
        metrics?.Dispose();
    }

    // With only the environment variables set, the exporter reads them itself (OTEL_EXPORTER_OTLP_*).
    private static void Configure(OtlpExporterOptions exporter, TelemetryOptions settings, string signalPath)
    {
        if (settings.ExportIntervalMilliseconds is { } interval)
        {
            exporter.BatchExportProcessorOptions.ScheduledDelayMilliseconds = interval;
        }

        if (string.IsNullOrWhiteSpace(settings.OtlpEndpoint))
        {
            return;
        }

        var http = string.Equals(settings.OtlpProtocol, "http/protobuf", StringComparison.OrdinalIgnoreCase);
        exporter.Protocol = http ? OtlpExportProtocol.HttpProtobuf : OtlpExportProtocol.Grpc;
        // An endpoint set in code is used as given, so over HTTP it must name the signal's path.
        var endpoint = new Uri(settings.OtlpEndpoint.TrimEnd('/') + "/");
        exporter.Endpoint = http ? new Uri(endpoint, signalPath) : endpoint;
    }
}

using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Npgsql;

// The load generator: a separate process driving a running Holdfast over loopback HTTP (and its
// database through pgbench and SQL checks). Every loop is bounded in time and count.
// Usage: Holdfast.Bench faults ... (see Faults.cs), Holdfast.Bench ha-faults ... (HaFaults.cs) or Holdfast.Bench --base-url URL --connection CS --app-pid PID --pgbench PATH --out FILE [--quick]
if (args.Length > 0 && args[0] == "faults")
{
    return await Faults.RunAsync(args);
}

if (args.Length > 0 && args[0] == "ha-faults")
{
    return await HaFaults.RunAsync(args);
}

var arguments = Args.Parse(args);
var bench = new Bench(arguments);
await bench.RunAsync();
return 0;

internal sealed record Args(Uri BaseUrl, string Connection, int AppPid, string PgBench, string Out, bool Quick, string? Only, string? Merge, string Label)
{
    public static Args Parse(string[] args)
    {
        string Get(string name, string? fallback = null)
        {
            var i = Array.IndexOf(args, name);
            return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback ?? throw new ArgumentException($"{name} is required");
        }

        return new Args(new Uri(Get("--base-url")), Get("--connection"), int.Parse(Get("--app-pid"), CultureInfo.InvariantCulture),
            Get("--pgbench"), Get("--out"), args.Contains("--quick"), Get("--only", ""), Get("--merge", ""), Get("--label", ""));
    }
}

/// <summary>One line of the results table.</summary>
internal sealed record Figure(string Scenario, string Metric, double Value, string Unit, string Target, bool? Met, string How);

internal sealed partial class Bench(Args args)
{
    private readonly List<Figure> figures = [];
    private readonly HttpClient http = new(new SocketsHttpHandler { MaxConnectionsPerServer = int.MaxValue, PooledConnectionLifetime = TimeSpan.FromMinutes(10) })
    {
        BaseAddress = args.BaseUrl,
        Timeout = TimeSpan.FromSeconds(60),
    };

    // The feed scenario's writes go on connections of their own, never queued behind open streams.
    private readonly HttpClient control = new(new SocketsHttpHandler { MaxConnectionsPerServer = 8 })
    {
        BaseAddress = args.BaseUrl,
        Timeout = TimeSpan.FromSeconds(60),
    };

    private NpgsqlDataSource db = null!;
    private List<(long Id, string Token)> customers = [];
    private TimeSpan Duration => args.Quick ? TimeSpan.FromSeconds(5) : TimeSpan.FromSeconds(20);

    public async Task RunAsync()
    {
        db = NpgsqlDataSource.Create(args.Connection);
        if (!string.IsNullOrEmpty(args.Merge) && File.Exists(args.Merge))
        {
            using var previous = JsonDocument.Parse(File.ReadAllText(args.Merge));
            foreach (var f in previous.RootElement.GetProperty("figures").EnumerateArray())
            {
                figures.Add(new Figure(f.GetProperty("scenario").GetString()!, f.GetProperty("metric").GetString()!, f.GetProperty("value").GetDouble(),
                    f.GetProperty("unit").GetString()!, f.GetProperty("target").GetString()!, f.GetProperty("met").ValueKind == JsonValueKind.Null ? null : f.GetProperty("met").GetBoolean(),
                    f.GetProperty("how").GetString()!));
            }
        }

        // --only a,b,c runs just those scenarios (raw, holds, bookings, contention, burst, search, jobs, feed); default all.
        var only = string.IsNullOrEmpty(args.Only) ? null : args.Only.Split(',').ToHashSet();
        bool Runs(string name) => only is null || only.Contains(name);
        if (only is null || only.Overlaps(["raw", "holds", "bookings", "contention", "burst", "jobs", "feed"]))
        {
            customers = await CustomersAsync(args.Quick ? 60 : 220);
        }

        cpu = await ServerCpu.FindAsync(db, args.AppPid);

        if (Runs("raw"))
        {
            await RawCeilingAsync();
        }

        if (Runs("holds"))
        {
            await UncontendedHoldsAsync();
        }

        if (Runs("bookings"))
        {
            await BookingsAsync();
        }

        if (Runs("contention"))
        {
            await ContentionAsync();
        }

        if (Runs("burst"))
        {
            await BurstAsync();
        }

        if (Runs("search"))
        {
            await SearchAsync();
        }

        if (Runs("jobs"))
        {
            await JobsAsync();
            await ExpiryLatenessAsync();
        }

        if (Runs("feed"))
        {
            await FeedAsync(1000);
            if (!args.Quick)
            {
                await FeedAsync(5000);
            }
        }

        Report();
    }

    // Real accounts and real JWTs, through the API.
    private async Task<List<(long, string)>> CustomersAsync(int count)
    {
        var run = Guid.NewGuid().ToString("N")[..8];
        var made = new ConcurrentBag<(long, string)>();
        await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, ct) =>
        {
            using var response = await http.PostAsJsonAsync("/auth/register", new { email = $"bench-{run}-{i}@holdfast.example", password = "bench password 123" }, ct);
            response.EnsureSuccessStatusCode();
            var body = (await response.Content.ReadFromJsonAsync<JsonObject>(ct))!;
            made.Add((body["user_id"]!.GetValue<long>(), body["access_token"]!.GetValue<string>()));
        });
        return [.. made];
    }

    private HttpRequestMessage Authorized(HttpMethod method, string path, object? body, string token)
    {
        var request = new HttpRequestMessage(method, path) { Content = body is null ? null : JsonContent.Create(body) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return request;
    }

    private async Task<long[]> ShowIdsAsync(string kind, int count)
    {
        await using var command = db.CreateCommand(
            "select s.show_id from show s join event e using (event_id) where e.kind = @kind and s.status = 'on_sale' and s.starts_at > now() + interval '1 day' order by random() limit @n");
        command.Parameters.AddWithValue("kind", kind);
        command.Parameters.AddWithValue("n", count);
        var ids = new List<long>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            ids.Add(reader.GetInt64(0));
        }

        return [.. ids];
    }

    private double apiHoldsPerSecond;

    // 1. pgbench running the hold and release statements, same database, same run.
    private async Task RawCeilingAsync()
    {
        var shows = await ShowIdsAsync("flight", 2000);
        var script = Path.Combine(AppContext.BaseDirectory, "pgbench", "hold_release.sql");
        var csb = new NpgsqlConnectionStringBuilder(args.Connection);
        var start = new ProcessStartInfo(args.PgBench) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-n", "-M", "prepared", "-h", csb.Host!, "-p", csb.Port.ToString(CultureInfo.InvariantCulture), "-U", csb.Username!, "-c", "16", "-j", "2",
                     "-T", ((int)Duration.TotalSeconds).ToString(CultureInfo.InvariantCulture), "-f", script,
                     "-D", $"min_show={shows.Min()}", "-D", $"max_show={shows.Min() + 1999}",
                     "-D", $"min_uid={customers.Min(c => c.Id)}", "-D", $"max_uid={customers.Max(c => c.Id)}", csb.Database! })
        {
            start.ArgumentList.Add(a);
        }

        await CheckpointAsync();
        using var process = Process.Start(start)!;
        var output = await process.StandardOutput.ReadToEndAsync();
        var errors = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        var tps = output.Split('\n').Where(l => l.StartsWith("tps = ", StringComparison.Ordinal))
            .Select(l => double.Parse(l.Split(' ')[2], CultureInfo.InvariantCulture)).DefaultIfEmpty(0).First();
        var latency = output.Split('\n').FirstOrDefault(l => l.StartsWith("latency average", StringComparison.Ordinal))?.Split('=')[1].Trim() ?? "?";
        if (tps == 0)
        {
            Console.Error.WriteLine(output + errors);
        }

        rawCeiling = tps;
        Add("raw ceiling (pgbench)", "hold+release cycles/s", tps, "/s", "", null,
            $"pgbench -M prepared -c 16 -j 2 -T {Duration.TotalSeconds:0} -f hold_release.sql over 2,000 flights, after a CHECKPOINT; latency avg {latency}");
    }

    private double rawCeiling;

    // 2. Many customers holding and releasing seats across many shows through the API, at two
    // levels of concurrency: 16 clients (about what 2 cores serve without queueing) and 64.
    private async Task UncontendedHoldsAsync()
    {
        var shows = await ShowIdsAsync("flight", 2000);
        // Warm-up, not measured: JIT tiers, pooled connections, prepared statements and their plans.
        var warmUp = await WarmUpAsync(args.Quick ? TimeSpan.FromSeconds(1) : TimeSpan.FromSeconds(3), slice => HoldCyclesAsync(shows, 64, slice));
        foreach (var clients in new[] { 16, 64 })
        {
            // Every level starts right after a checkpoint, the dearest point of the WAL cycle (each
            // page's first change then writes the whole page), so runs compare like with like.
            await CheckpointAsync();

            var (sorted, errors, conflicts, seconds) = await HoldCyclesAsync(shows, clients, Duration);
            var holdsPerSecond = sorted.Length / seconds;
            var scenario = clients == 64 ? "holds, no contention" : $"holds, no contention, {clients} clients";
            var how = $"{clients} clients, 1 economy seat on a random one of 2,000 flights, then DELETE; {seconds:0}s after {warmUp} and a CHECKPOINT; latency at the client";
            Add(scenario, "holds/s", holdsPerSecond, "/s", "≥ 1000", holdsPerSecond >= 1000, how);
            Add(scenario, "p50", P(sorted, 50), "ms", "", null, how);
            Add(scenario, "p95", P(sorted, 95), "ms", "", null, how);
            Add(scenario, "p99", P(sorted, 99), "ms", "≤ 50", P(sorted, 99) <= 50, how);
            Add(scenario, "errors (non-2xx, 409s aside)", errors, "", "0", errors == 0, $"{conflicts} 409s");
            apiHoldsPerSecond = Math.Max(apiHoldsPerSecond, holdsPerSecond);
            if (clients == 64)
            {
                var oneNode = figures.FirstOrDefault(f => f.Scenario == "holds, no contention (1 node behind nginx)" && f.Metric == "holds/s");
                if (args.Label == " (2 nodes behind nginx)" && oneNode is not null)
                {
                    Add(scenario, "2 nodes / 1 node", holdsPerSecond / oneNode.Value, "×", "", null,
                        "holds/s through nginx with two app nodes over holds/s with one, 64 clients; both nodes, nginx, PostgreSQL and the load share the 2 cores");
                }
            }
        }

        if (rawCeiling > 0)
        {
            Add("holds, no contention", "API / raw ceiling", apiHoldsPerSecond / rawCeiling, "×", "≥ 0.5", apiHoldsPerSecond / rawCeiling >= 0.5,
                "API hold+release cycles/s (the better of 16 and 64 clients) over pgbench's on the same statements");
        }
    }

    /// <summary>
    /// Runs <paramref name="load"/> for at least <paramref name="least"/>, then in one-second slices
    /// until the app's tiered JIT compiler used under 2 % of a core in the last slice (at most 60 s
    /// in all, 30 s with --quick): a server's steady state, which is what a figure per request
    /// means. Tier-1 recompilation of a freshly started app on 2 cores goes on for tens of seconds
    /// under load, and measured inside the window it was up to two fifths of the app's CPU.
    /// Returns how the warm-up went, for the figure's note.
    /// </summary>
    private async Task<string> WarmUpAsync<T>(TimeSpan least, Func<TimeSpan, Task<T>> load)
    {
        var limit = args.Quick ? TimeSpan.FromSeconds(30) : TimeSpan.FromSeconds(60);
        var slice = TimeSpan.FromSeconds(1);
        var clock = Stopwatch.StartNew();
        await load(least);
        var jit = 0.0;
        while (clock.Elapsed < limit)
        {
            var before = cpu.JitSeconds();
            await load(slice);
            jit = cpu.JitSeconds() - before;
            if (jit < 0.02 * slice.TotalSeconds)
            {
                break;
            }
        }

        return $"a {clock.Elapsed.TotalSeconds:0} s warm-up (until the app's JIT used {jit * 1000 / slice.TotalSeconds:0} ms/s)";
    }

    private async Task CheckpointAsync()
    {
        await using var checkpoint = db.CreateCommand("checkpoint");
        await checkpoint.ExecuteNonQueryAsync();
    }

    private async Task<(double[] Sorted, int Errors, int Conflicts, double Seconds)> HoldCyclesAsync(long[] shows, int clients, TimeSpan duration)
    {
        var latencies = new ConcurrentBag<double>();
        var errors = 0;
        var conflicts = 0;
        var deadline = Stopwatch.StartNew();
        var workers = Enumerable.Range(0, clients).Select(async w =>
        {
            var random = new Random(w);
            var (_, token) = customers[w % customers.Count];
            while (deadline.Elapsed < duration)
            {
                var show = shows[random.Next(shows.Length)];
                var timer = Stopwatch.StartNew();
                using var response = await http.SendAsync(Authorized(HttpMethod.Post, $"/shows/{show}/holds", new { category = "economy", quantity = 1 }, token));
                var elapsed = timer.Elapsed.TotalMilliseconds;
                if (response.StatusCode == HttpStatusCode.Created)
                {
                    latencies.Add(elapsed);
                    var hold = (await response.Content.ReadFromJsonAsync<JsonObject>())!;
                    using var release = await http.SendAsync(Authorized(HttpMethod.Delete, $"/holds/{hold["hold_id"]}", null, token));
                    if (release.StatusCode != HttpStatusCode.NoContent)
                    {
                        Interlocked.Increment(ref errors);
                    }
                }
                else if (response.StatusCode == HttpStatusCode.Conflict)
                {
                    Interlocked.Increment(ref conflicts);
                }
                else
                {
                    Interlocked.Increment(ref errors);
                }
            }
        });
        await Task.WhenAll(workers);
        return (latencies.Order().ToArray(), errors, conflicts, deadline.Elapsed.TotalSeconds);
    }

    // 3. 200 customers racing for the same 20 seats of one show, repeated.
    private async Task ContentionAsync()
    {
        var rounds = args.Quick ? 3 : 10;
        var shows = await ShowIdsAsync("flight", rounds + 1);
        var conflictLatencies = new ConcurrentBag<double>();
        var serverErrors = 0;
        var wins = 0;
        string[] seats = ["10A", "10B", "10C", "10D", "10E", "10F", "11A", "11B", "11C", "11D", "11E", "11F", "12A", "12B", "12C", "12D", "12E", "12F", "14A", "14B"];
        // The first round warms up (200 client connections, JIT) and is not counted.
        var warmUp = shows[^1];
        shows = shows[..^1];
        foreach (var show in shows.Prepend(warmUp))
        {
            var counted = show != warmUp;
            using var gate = new SemaphoreSlim(0);
            var racers = customers.Take(200).Select(async (c, i) =>
            {
                await gate.WaitAsync();
                var timer = Stopwatch.StartNew();
                using var response = await http.SendAsync(Authorized(HttpMethod.Post, $"/shows/{show}/holds", new { seats = new[] { seats[i % seats.Length] } }, c.Token));
                var elapsed = timer.Elapsed.TotalMilliseconds;
                if (!counted)
                {
                    return;
                }

                if (response.StatusCode == HttpStatusCode.Conflict)
                {
                    conflictLatencies.Add(elapsed);
                }
                else if ((int)response.StatusCode >= 500)
                {
                    Interlocked.Increment(ref serverErrors);
                }
                else if (response.StatusCode == HttpStatusCode.Created)
                {
                    Interlocked.Increment(ref wins);
                }
            }).ToList();
            gate.Release(200);
            await Task.WhenAll(racers);
        }

        await using var check = db.CreateCommand("""
            select count(*) from (
              select hs.seat_id, h.show_id from hold_seat hs join hold h using (hold_id)
              where h.show_id = any(@shows) and h.status = 'active' group by 1, 2 having count(*) > 1) twice
            """);
        check.Parameters.AddWithValue("shows", shows);
        var doubled = (long)(await check.ExecuteScalarAsync())!;
        var sorted = conflictLatencies.Order().ToArray();
        var how = $"{rounds} rounds (after 1 unmeasured) × 200 customers released together, each asking for 1 of the same 20 seats of one flight; {wins} holds won";
        Add("holds, contention", "seats held twice (in the DB)", doubled, "", "0", doubled == 0, how);
        Add("holds, contention", "409 p99", P(sorted, 99), "ms", "≤ 10", P(sorted, 99) <= 10, how);
        Add("holds, contention", "409 p50", P(sorted, 50), "ms", "", null, how);
        Add("holds, contention", "5xx", serverErrors, "", "0", serverErrors == 0, how);

        // The same 409 with no queue in front of it: what one costs, against which the burst's
        // p99 is mostly waiting (200 arrivals at once share 2 cores with PostgreSQL).
        var alone = new List<double>();
        var (_, lateToken) = customers[^1];
        for (var i = 0; i < 130; i++)
        {
            var timer = Stopwatch.StartNew();
            using var response = await http.SendAsync(Authorized(HttpMethod.Post, $"/shows/{shows[0]}/holds", new { seats = new[] { seats[i % seats.Length] } }, lateToken));
            if (i >= 30 && response.StatusCode == HttpStatusCode.Conflict)
            {
                alone.Add(timer.Elapsed.TotalMilliseconds);
            }
        }

        var aloneSorted = alone.Order().ToArray();
        var aloneHow = $"{aloneSorted.Length} sequential requests for seats already held, one at a time, after 30 unmeasured";
        Add("holds, contention", "409 alone p50", P(aloneSorted, 50), "ms", "", null, aloneHow);
        Add("holds, contention", "409 alone p99", P(aloneSorted, 99), "ms", "", null, aloneHow);
    }

    // 6. Search at a fixed rate, plus deep keyset pages against the first.
    private async Task SearchAsync()
    {
        await using var routes = db.CreateCommand("""
            select oa.iata, da.iata, (s.starts_at at time zone s.time_zone)::date
            from show s join event e using (event_id) join airport oa on oa.airport_id = e.origin_airport_id join airport da on da.airport_id = e.destination_airport_id
            where s.starts_at > now() order by random() limit 500
            """);
        var queries = new List<string>();
        await using (var reader = await routes.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                queries.Add($"/shows?origin={reader.GetString(0)}&destination={reader.GetString(1)}&date={reader.GetDateTime(2):yyyy-MM-dd}");
            }
        }

        await using (var counts = db.CreateCommand("select (select count(*) from show), (select count(*) from show_seat)"))
        await using (var reader = await counts.ExecuteReaderAsync())
        {
            await reader.ReadAsync();
            catalogue = $"{reader.GetInt64(0):N0} shows, {reader.GetInt64(1):N0} show seats";
        }

        const int rate = 500;
        var latencies = new ConcurrentBag<double>();
        var failures = 0;

        // Open loop: requests leave on schedule whether or not earlier ones have answered.
        async Task OpenLoopAsync(TimeSpan duration, bool record)
        {
            var total = (int)(rate * duration.TotalSeconds);
            var clock = Stopwatch.StartNew();
            var sends = new List<Task>(total);
            for (var i = 0; i < total; i++)
            {
                var due = TimeSpan.FromSeconds((double)i / rate);
                if (due > clock.Elapsed)
                {
                    await Task.Delay(due - clock.Elapsed);
                }

                var path = queries[i % queries.Count];
                sends.Add(Task.Run(async () =>
                {
                    var timer = Stopwatch.StartNew();
                    using var response = await http.GetAsync(path);
                    if (record)
                    {
                        latencies.Add(timer.Elapsed.TotalMilliseconds);
                        if (!response.IsSuccessStatusCode)
                        {
                            Interlocked.Increment(ref failures);
                        }
                    }
                }));
            }

            await Task.WhenAll(sends);
        }

        // Warm-up, not measured: JIT tiers, pooled connections, prepared statements and their plans.
        await OpenLoopAsync(TimeSpan.FromSeconds(5), record: false);
        await OpenLoopAsync(Duration, record: true);
        var sorted = latencies.Order().ToArray();
        var how = $"open loop at {rate} req/s for {Duration.TotalSeconds:0}s after 5 s unmeasured warm-up, 500 origin+destination+local-date queries of real routes, repeating; {catalogue}; {failures} failures";
        var scenario = "search";
        Add(scenario, "p50", P(sorted, 50), "ms", "", null, how);
        Add(scenario, "p95", P(sorted, 95), "ms", "", null, how);
        Add(scenario, "p99", P(sorted, 99), "ms", "≤ 75", P(sorted, 99) <= 75, how);

        // Deep pages: walk a broad query's cursor 50 pages deep, then time page 1 against page 50.
        string? cursor = null;
        var page50 = "";
        for (var page = 1; page <= 50; page++)
        {
            var body = (await http.GetFromJsonAsync<JsonObject>("/shows?kind=flight&limit=20" + (cursor is null ? "" : $"&cursor={cursor}")))!;
            cursor = body["next_cursor"]?.GetValue<string>();
            if (page == 49)
            {
                page50 = cursor ?? "";
            }
        }

        double Time(string path)
        {
            var samples = new List<double>();
            for (var i = 0; i < 60; i++)
            {
                var timer = Stopwatch.StartNew();
                http.GetAsync(path).GetAwaiter().GetResult().Dispose();
                if (i >= 30)
                {
                    samples.Add(timer.Elapsed.TotalMilliseconds);
                }
            }

            return samples.Order().ElementAt(15);
        }

        Add(scenario, "page 1 median", Time("/shows?kind=flight&limit=20"), "ms", "", null, "kind=flight, 20 per page, 30 sequential requests after 30 unmeasured");
        Add(scenario, "page 50 median", Time($"/shows?kind=flight&limit=20&cursor={page50}"), "ms", "", null, "the same query, keyset cursor after 980 rows");
    }

    private string catalogue = "";

    // 5a. No-op jobs through the engine.
    private async Task JobsAsync()
    {
        var count = args.Quick ? 5000 : 20000;
        await using (var insert = db.CreateCommand("insert into job (kind, run_at) select 'jobs.noop', now() from generate_series(1, @n)"))
        {
            insert.Parameters.AddWithValue("n", count);
            await insert.ExecuteNonQueryAsync();
        }

        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromMinutes(3))
        {
            await using var remaining = db.CreateCommand("select count(*) from job where kind = 'jobs.noop' and state <> 'completed'");
            if ((long)(await remaining.ExecuteScalarAsync())! == 0)
            {
                break;
            }

            await Task.Delay(100);
        }

        var perSecond = count / clock.Elapsed.TotalSeconds;
        Add("jobs", "no-op jobs/s", perSecond, "/s", "≥ 1000", perSecond >= 1000, $"{count:N0} jobs inserted at once, one app node, until all completed");
    }

    // 5b. Hold expiry lateness: the app runs with 5-second holds here; release time minus expires_at.
    private async Task ExpiryLatenessAsync()
    {
        var shows = await ShowIdsAsync("film", 100);
        var holds = new ConcurrentBag<long>();
        await Parallel.ForEachAsync(Enumerable.Range(0, 200), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, ct) =>
        {
            var (_, token) = customers[i % customers.Count];
            using var response = await http.SendAsync(Authorized(HttpMethod.Post, $"/shows/{shows[i % shows.Length]}/holds", new { category = "standard", quantity = 1 }, token), ct);
            if (response.IsSuccessStatusCode)
            {
                holds.Add((await response.Content.ReadFromJsonAsync<JsonObject>(ct))!["hold_id"]!.GetValue<long>());
            }
        });
        var ids = holds.ToArray();
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            await using var active = db.CreateCommand("select count(*) from hold where hold_id = any(@ids) and status = 'active'");
            active.Parameters.AddWithValue("ids", ids);
            if ((long)(await active.ExecuteScalarAsync())! == 0)
            {
                break;
            }

            await Task.Delay(200);
        }

        await using var lateness = db.CreateCommand("select extract(epoch from ended_at - expires_at) * 1000 from hold where hold_id = any(@ids) and status = 'expired'");
        lateness.Parameters.AddWithValue("ids", ids);
        var values = new List<double>();
        await using (var reader = await lateness.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                values.Add(Convert.ToDouble(reader.GetValue(0), CultureInfo.InvariantCulture));
            }
        }

        var sorted = values.Order().ToArray();
        Add("jobs", "hold-expiry lateness p99", P(sorted, 99) / 1000, "s", "≤ 2", P(sorted, 99) / 1000 <= 2,
            $"{sorted.Length} holds of 5 s; hold.ended_at − expires_at, both written by the database's clock path");
    }

    // 4. The live feed: N subscribers on one show while seats change.
    private async Task FeedAsync(int subscribers)
    {
        var show = (await ShowIdsAsync("flight", 1))[0];
        var rssBefore = Rss();
        var received = new ConcurrentBag<double>();
        var lastIds = new long[subscribers];
        using var stop = new CancellationTokenSource();
        var connected = 0;
        var readers = Enumerable.Range(0, subscribers).Select(i => Task.Run(async () =>
        {
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, $"/shows/{show}/seats/stream");
                using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, stop.Token);
                await using var stream = await response.Content.ReadAsStreamAsync(stop.Token);
                using var reader = new StreamReader(stream);
                Interlocked.Increment(ref connected);
                string? line;
                string? id = null;
                while ((line = await reader.ReadLineAsync(stop.Token)) is not null)
                {
                    if (line.StartsWith("id: ", StringComparison.Ordinal))
                    {
                        id = line[4..];
                    }
                    else if (line.StartsWith("data: ", StringComparison.Ordinal) && line.Contains("\"occurred_at\"", StringComparison.Ordinal))
                    {
                        var at = JsonNode.Parse(line[6..])!["occurred_at"]!.GetValue<DateTimeOffset>();
                        received.Add((DateTimeOffset.UtcNow - at).TotalMilliseconds);
                        lastIds[i] = long.Parse(id!, CultureInfo.InvariantCulture);
                    }
                }
            }
            catch (OperationCanceledException)
            {
                // Stopped.
            }
        })).ToList();
        var wait = Stopwatch.StartNew();
        while (Volatile.Read(ref connected) < subscribers && wait.Elapsed < TimeSpan.FromSeconds(120))
        {
            await Task.Delay(100);
        }

        await Task.Delay(1000);
        var rssConnected = Rss();
        var (_, token) = customers[0];
        var changes = 40;
        for (var i = 0; i < changes / 2; i++)
        {
            using var hold = await control.SendAsync(Authorized(HttpMethod.Post, $"/shows/{show}/holds", new { category = "economy", quantity = 1 }, token));
            var body = (await hold.Content.ReadFromJsonAsync<JsonObject>())!;
            (await control.SendAsync(Authorized(HttpMethod.Delete, $"/holds/{body["hold_id"]}", null, token))).Dispose();
            await Task.Delay(100);
        }

        var drain = Stopwatch.StartNew();
        while (received.Count < subscribers * changes && drain.Elapsed < TimeSpan.FromSeconds(60))
        {
            await Task.Delay(100);
        }

        await stop.CancelAsync();
        await Task.WhenAll(readers);

        // Forced reconnect: everyone is gone; more changes happen; each resumes from its last id.
        var resumeFrom = lastIds.Take(Math.Min(200, subscribers)).ToArray();
        for (var i = 0; i < 5; i++)
        {
            using var hold = await control.SendAsync(Authorized(HttpMethod.Post, $"/shows/{show}/holds", new { category = "economy", quantity = 1 }, token));
            var body = (await hold.Content.ReadFromJsonAsync<JsonObject>())!;
            (await control.SendAsync(Authorized(HttpMethod.Delete, $"/holds/{body["hold_id"]}", null, token))).Dispose();
        }

        await using var current = db.CreateCommand("select last_seq from seat_feed where show_id = @show");
        current.Parameters.AddWithValue("show", show);
        var latest = (long)(await current.ExecuteScalarAsync())!;
        var lost = 0L;
        await Parallel.ForEachAsync(resumeFrom, new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (from, ct) =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"/shows/{show}/seats/stream");
            request.Headers.Add("Last-Event-ID", from.ToString(CultureInfo.InvariantCulture));
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(timeout.Token));
            var expected = from + 1;
            string? line;
            while (expected <= latest && (line = await reader.ReadLineAsync(timeout.Token)) is not null)
            {
                if (line.StartsWith("id: ", StringComparison.Ordinal) && long.Parse(line[4..], CultureInfo.InvariantCulture) == expected)
                {
                    expected++;
                }
            }

            Interlocked.Add(ref lost, latest - expected + 1);
        });

        var sorted = received.Order().ToArray();
        var how = $"{subscribers:N0} SSE clients on one flight, {changes} seat changes 100 ms apart; latency = client receipt − event occurred_at; {received.Count:N0} deliveries";
        Add($"feed, {subscribers:N0} subscribers", "commit-to-client p50", P(sorted, 50), "ms", "", null, how);
        Add($"feed, {subscribers:N0} subscribers", "commit-to-client p99", P(sorted, 99), "ms", "≤ 250", P(sorted, 99) <= 250, how);
        Add($"feed, {subscribers:N0} subscribers", "deliveries missing", subscribers * changes - received.Count, "", "0", received.Count >= subscribers * changes, how);
        Add($"feed, {subscribers:N0} subscribers", "events lost after forced reconnect", lost, "", "0", lost == 0,
            $"{resumeFrom.Length} clients disconnected, 10 changes, reconnected with Last-Event-ID");
        Add($"feed, {subscribers:N0} subscribers", "server RSS added", (rssConnected - rssBefore) / 1024.0 / 1024, "MB", "≤ 2048", (rssConnected - rssBefore) / 1024.0 / 1024 <= 2048,
            "app VmRSS with the clients connected minus before");
    }

    private long Rss()
    {
        var status = File.ReadAllLines($"/proc/{args.AppPid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(status.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
    }

    private static double P(double[] sorted, int percentile) =>
        sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(percentile / 100.0 * sorted.Length) - 1)];

    private void Add(string scenario, string metric, double value, string unit, string target, bool? met, string how)
    {
        scenario += args.Label;
        figures.Add(new Figure(scenario, metric, value, unit, target, met, how));
        Console.WriteLine($"  {scenario,-26} {metric,-36} {value,10:0.##} {unit,-3} {target,-7} {(met is null ? "" : met.Value ? "met" : "MISSED")}");
    }

    private void Report()
    {
        var commit = Environment.GetEnvironmentVariable("HOLDFAST_COMMIT") ?? "unknown";
        var machine = $"{Environment.ProcessorCount} cores, {GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 1024 / 1024 / 1024} GiB, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}";
        var table = new StringBuilder();
        table.AppendLine(CultureInfo.InvariantCulture, $"Holdfast benchmark — commit {commit} — {machine} — everything on one box");
        table.AppendLine("| scenario | metric | value | target | | how |");
        table.AppendLine("| --- | --- | ---: | --- | --- | --- |");
        foreach (var f in figures)
        {
            table.AppendLine(CultureInfo.InvariantCulture, $"| {f.Scenario} | {f.Metric} | {f.Value:0.##} {f.Unit} | {f.Target} | {(f.Met is null ? "" : f.Met.Value ? "met" : "missed")} | {f.How} |");
        }

        Console.WriteLine();
        Console.WriteLine(table);
        File.WriteAllText(args.Out, JsonSerializer.Serialize(new { commit, machine, at = DateTimeOffset.UtcNow, figures },
            new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals }));
        Console.WriteLine($"JSON: {args.Out}");
    }
}

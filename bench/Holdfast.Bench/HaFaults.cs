using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Npgsql;

/// <summary>
/// The load half of deploy/ha-faults.sh: hold → checkout load through nginx on a Patroni cluster,
/// SSE streams that resume with Last-Event-ID, anonymous seat-map readers (served by replicas),
/// and replica lag sampled from the primary, while the primary is killed (a shell command given by
/// ha-faults.sh). Then SQL checks against the new primary. Writes its figures as JSON.
/// Usage: Holdfast.Bench ha-faults --base-url URL --connection CS --kill-primary CMD --out FILE [--quick]
/// Exit code 1 when a correctness figure is not 0.
/// </summary>
internal static class HaFaults
{
    private sealed record Call(double Start, double End, string Op, int Status, bool RetryAfter);

    public static async Task<int> RunAsync(string[] args)
    {
        string Get(string name)
        {
            var i = Array.IndexOf(args, name);
            return i >= 0 && i + 1 < args.Length ? args[i + 1] : throw new ArgumentException($"{name} is required");
        }

        var quick = args.Contains("--quick");
        var duration = TimeSpan.FromSeconds(quick ? 50 : 80);
        var killAt = TimeSpan.FromSeconds(quick ? 15 : 25);
        var connection = Get("--connection");
        var db = NpgsqlDataSource.Create(connection);
        var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 64, ConnectTimeout = TimeSpan.FromSeconds(2) })
        {
            BaseAddress = new Uri(Get("--base-url")),
            Timeout = TimeSpan.FromSeconds(30),
        };
        var streams = new HttpClient(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(2) }) { BaseAddress = client.BaseAddress, Timeout = Timeout.InfiniteTimeSpan };
        var clock = Stopwatch.StartNew();
        var calls = new ConcurrentQueue<Call>();
        var confirmed = new ConcurrentBag<long>();

        async Task<(int Status, JsonObject? Body)> SendAsync(string op, HttpMethod method, string path, object? body, string? token, string? key = null)
        {
            using var request = new HttpRequestMessage(method, path) { Content = body is null ? null : JsonContent.Create(body) };
            if (token is not null)
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            }

            if (key is not null)
            {
                request.Headers.Add("Idempotency-Key", key);
            }

            var start = clock.Elapsed.TotalSeconds;
            try
            {
                using var response = await client.SendAsync(request);
                var text = await response.Content.ReadAsStringAsync();
                calls.Enqueue(new Call(start, clock.Elapsed.TotalSeconds, op, (int)response.StatusCode, response.Headers.RetryAfter is not null));
                try
                {
                    return ((int)response.StatusCode, text.Length > 0 ? JsonNode.Parse(text) as JsonObject : null);
                }
                catch (JsonException)
                {
                    return ((int)response.StatusCode, null);
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException)
            {
                calls.Enqueue(new Call(start, clock.Elapsed.TotalSeconds, op, 0, false));
                return (0, null);
            }
        }

        var tokens = await FaultLoad.RegisterAsync(16, "ha", (i, body) => SendAsync("register", HttpMethod.Post, "/auth/register", body, null));
        var shows = await FaultLoad.FlightsAsync(db, 40);

        Console.WriteLine($"  {tokens.Length} customers, {shows.Count} flights; load for {duration.TotalSeconds:0} s; primary killed at {killAt.TotalSeconds:0} s");
        var loadStart = clock.Elapsed;
        bool Loading() => clock.Elapsed - loadStart < duration;

        // Anonymous readers: right after a hold, is the seat already held in the anonymous seat map
        // (a replica read, once the replica has caught up with the primary)?
        long anonymousReads = 0, staleReads = 0;
        var anonymousLatency = new ConcurrentBag<double>();
        async Task CheckAnonymousAsync(long show, long seatId)
        {
            var start = clock.Elapsed.TotalSeconds;
            var (status, map) = await SendAsync("anonymous seat map", HttpMethod.Get, $"/shows/{show}/seats", null, null);
            if (status != 200)
            {
                return;
            }

            anonymousLatency.Add((clock.Elapsed.TotalSeconds - start) * 1000);
            Interlocked.Increment(ref anonymousReads);
            var seat = map!["seats"]!.AsArray().FirstOrDefault(s => s!["seat_id"]!.GetValue<long>() == seatId);
            if (seat?["state"]?.GetValue<string>() == "available")
            {
                Interlocked.Increment(ref staleReads);
            }
        }

        async Task BookerAsync(int i)
        {
            var random = new Random(i);
            while (Loading())
            {
                var show = shows[random.Next(shows.Count)];
                var (status, hold) = await SendAsync("hold", HttpMethod.Post, $"/shows/{show}/holds", new { category = "economy", quantity = 1 }, tokens[i]);
                if (status != 201)
                {
                    await Task.Delay(status is 0 or 503 ? 200 : 20);
                    continue;
                }

                if (i < 4)
                {
                    await CheckAnonymousAsync(show, hold!["seats"]![0]!["seat_id"]!.GetValue<long>());
                }

                var holdId = hold!["hold_id"]!.GetValue<long>();
                var key = Guid.NewGuid().ToString("N");
                var retryUntil = clock.Elapsed + TimeSpan.FromSeconds(60);
                while (clock.Elapsed < retryUntil)
                {
                    var (checkout, booking) = await SendAsync("checkout", HttpMethod.Post, $"/holds/{holdId}/booking", new { payment_method = "pm_card_visa" }, tokens[i], key);
                    if (checkout == 201)
                    {
                        if (booking!["status"]!.GetValue<string>() == "confirmed")
                        {
                            confirmed.Add(booking["booking_id"]!.GetValue<long>());
                        }

                        break;
                    }

                    var inFlight = checkout == 409 && booking?["title"]?.GetValue<string>() == "Request in flight.";
                    if (checkout is not (0 or 503) && !inFlight)
                    {
                        break;
                    }

                    await Task.Delay(300);
                }
            }
        }

        async Task ExpirerAsync(int i)
        {
            var random = new Random(i);
            while (Loading())
            {
                await SendAsync("hold", HttpMethod.Post, $"/shows/{shows[random.Next(shows.Count)]}/holds", new { category = "economy", quantity = 1 }, tokens[i]);
                await Task.Delay(400);
            }
        }

        // SSE: streams on the first four flights (the bookers' holds land there too). On a lost
        // stream, reconnect with Last-Event-ID; a delta whose seq is not the last one + 1 is a gap.
        // Each stream is also dropped once by the client 2 s after the kill (mid-failover), so every
        // stream resumes with Last-Event-ID at least once.
        long gaps = 0, resumes = 0, snapshotsAfterResume = 0, deltas = 0;
        var dropAt = killAt + TimeSpan.FromSeconds(2);
        async Task StreamAsync(long show)
        {
            string? lastId = null;
            var dropped = false;
            while (Loading())
            {
                try
                {
                    using var request = new HttpRequestMessage(HttpMethod.Get, $"/shows/{show}/seats/stream");
                    if (lastId is not null)
                    {
                        request.Headers.Add("Last-Event-ID", lastId);
                        Interlocked.Increment(ref resumes);
                    }

                    var elapsed = clock.Elapsed - loadStart;
                    var until = !dropped && elapsed < dropAt ? dropAt : duration + TimeSpan.FromSeconds(1);
                    dropped |= until == dropAt;
                    using var cancel = new CancellationTokenSource(until - elapsed);
                    using var response = await streams.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancel.Token);
                    if (!response.IsSuccessStatusCode)
                    {
                        await Task.Delay(500);
                        continue;
                    }

                    await using var body = await response.Content.ReadAsStreamAsync(cancel.Token);
                    await foreach (var item in System.Net.ServerSentEvents.SseParser.Create(body).EnumerateAsync(cancel.Token))
                    {
                        if (item.EventType == "snapshot" && lastId is not null)
                        {
                            Interlocked.Increment(ref snapshotsAfterResume);
                        }
                        else if (item.EventType == "seats" && lastId is not null && long.Parse(item.EventId!, CultureInfo.InvariantCulture) != long.Parse(lastId, CultureInfo.InvariantCulture) + 1)
                        {
                            Interlocked.Increment(ref gaps);
                        }

                        if (item.EventType == "seats")
                        {
                            Interlocked.Increment(ref deltas);
                        }

                        if (item.EventId is { Length: > 0 })
                        {
                            lastId = item.EventId;
                        }
                    }
                }
                catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or IOException)
                {
                    await Task.Delay(200);
                }
            }
        }

        // Replica lag, sampled on the primary every 500 ms (a failed sample during the failover is skipped).
        var lagBytes = new ConcurrentBag<double>();
        var lagMs = new ConcurrentBag<double>();
        async Task SampleLagAsync()
        {
            while (Loading())
            {
                try
                {
                    await using var command = db.CreateCommand("""
                        select coalesce(max(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)), 0)::float8,
                               coalesce(extract(epoch from max(replay_lag)) * 1000, 0)::float8
                        from pg_stat_replication
                        """);
                    await using var reader = await command.ExecuteReaderAsync();
                    await reader.ReadAsync();
                    lagBytes.Add(reader.GetDouble(0));
                    lagMs.Add(reader.GetDouble(1));
                }
                catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException)
                {
                    // The primary is changing.
                }

                await Task.Delay(500);
            }
        }

        double killed = 0;
        DateTime killedWall = default;
        var fault = Task.Run(async () =>
        {
            await Task.Delay(killAt - (clock.Elapsed - loadStart));
            killed = clock.Elapsed.TotalSeconds;
            killedWall = DateTime.UtcNow;
            var info = new ProcessStartInfo("bash") { ArgumentList = { "-c", Get("--kill-primary") } };
            using var process = Process.Start(info)!;
            await process.WaitForExitAsync();
            Console.WriteLine($"  primary killed at {killed - loadStart.TotalSeconds:0.0} s (exit {process.ExitCode})");
        });

        await Task.WhenAll(Enumerable.Range(0, 12).Select(BookerAsync)
            .Concat(Enumerable.Range(12, 4).Select(ExpirerAsync))
            .Concat(shows.Take(4).Select(StreamAsync))
            .Append(SampleLagAsync())
            .Append(fault));
        var loadEnd = clock.Elapsed.TotalSeconds;
        Console.WriteLine($"  load done; {confirmed.Count} bookings confirmed by the API; checking the new primary");

        await db.DisposeAsync();
        db = NpgsqlDataSource.Create(connection);
        async Task<long> ScalarAsync(string sql, params (string Name, object Value)[] parameters)
        {
            await using var command = db.CreateCommand(sql);
            foreach (var (name, value) in parameters)
            {
                command.Parameters.AddWithValue(name, value);
            }

            return Convert.ToInt64(await command.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
        }

        // Let the hold expiry jobs of the last holds run (5-second holds).
        for (var i = 0; i < 30 && await ScalarAsync("select count(*) from hold where status = 'active' and expires_at < now() - interval '1 second'") > 0; i++)
        {
            await Task.Delay(1000);
        }

        var ids = confirmed.ToArray();
        var lost = await ScalarAsync("""
            select count(*) from unnest(@ids::bigint[]) as c(id) left join booking b on b.booking_id = c.id
            where b.booking_id is null or b.status <> 'confirmed'
               or not exists (select 1 from booking_seat bs where bs.booking_id = c.id)
               or exists (select 1 from booking_seat bs left join show_seat ss on ss.show_id = bs.show_id and ss.seat_id = bs.seat_id
                          where bs.booking_id = c.id and (not bs.active or ss.state is distinct from 'booked' or ss.booking_id is distinct from c.id))
            """, ("ids", ids));
        var twoOwners = await ScalarAsync("""
            select (select count(*) from (select h.show_id, hs.seat_id from hold_seat hs join hold h using (hold_id)
                                          where h.status = 'active' group by 1, 2 having count(*) > 1) a)
                 + (select count(*) from (select bs.show_id, bs.seat_id from booking_seat bs join booking b using (booking_id)
                                          where bs.active and b.status in ('confirmed', 'pending_payment') group by 1, 2 having count(*) > 1) b)
            """);

        var all = calls.ToArray();
        var afterKill = all.Where(c => c.Start >= killed).ToArray();
        var lastFailure = afterKill.Where(c => c.Status is 0 or >= 500).Select(c => c.End).DefaultIfEmpty(killed).Max();
        var back = afterKill.Where(c => c.Op == "hold" && c.Status == 201 && c.End >= lastFailure).Select(c => c.End).DefaultIfEmpty(double.NaN).Min();
        // Longest stretch after the kill with no successful hold: what a customer calls "down".
        var okHolds = afterKill.Where(c => c.Op == "hold" && c.Status == 201).Select(c => c.End).Order().Prepend(killed).ToArray();
        var longestGap = okHolds.Zip(okHolds.Skip(1), (a, b) => b - a).DefaultIfEmpty(0).Max();
        var failed = all.Where(c => c.Status is 0 or >= 500).ToArray();
        var without503RetryAfter = failed.Count(c => c.Status == 503 && !c.RetryAfter);
        var fiveHundreds = failed.Count(c => c.Status >= 500 && c.Status != 503);

        // ended_at − max(expires_at, notBefore): with notBefore the moment service came back, the
        // lateness the job engine answers for (nothing can be released while no primary is there).
        async Task<double[]> LatenessAsync(DateTime notBefore)
        {
            await using var command = db.CreateCommand("""
                select extract(epoch from coalesce(ended_at, now()) - greatest(expires_at, @not_before))::float8 from hold
                where expires_at >= @from and (status = 'expired' or (status = 'active' and expires_at < now()))
                """);
            command.Parameters.AddWithValue("from", killedWall);
            command.Parameters.AddWithValue("not_before", notBefore);
            var values = new List<double>();
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                values.Add(reader.GetDouble(0));
            }

            return [.. values.Order()];
        }

        var lateness = await LatenessAsync(killedWall);
        var latenessPastReturn = await LatenessAsync(killedWall.AddSeconds(double.IsNaN(back) ? 0 : back - killed));

        double P(IEnumerable<double> values, int p)
        {
            var sorted = values.Order().ToArray();
            return sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p / 100.0 * sorted.Length) - 1)];
        }

        var result = new JsonObject
        {
            ["confirmed_by_api"] = ids.Length,
            ["calls"] = all.Length,
            ["statuses"] = new JsonObject(all.GroupBy(c => c.Status).OrderBy(g => g.Key)
                .Select(g => KeyValuePair.Create(g.Key == 0 ? "no_answer" : g.Key.ToString(CultureInfo.InvariantCulture), (JsonNode?)g.Count()))),
            ["failed_requests"] = failed.Length,
            ["failed_503_without_retry_after"] = without503RetryAfter,
            ["failed_5xx_other_than_503"] = fiveHundreds,
            ["seconds_to_first_hold_after_last_failure"] = double.IsNaN(back) ? null : Math.Round(back - killed, 2),
            ["seconds_without_a_successful_hold"] = Math.Round(longestGap, 2),
            ["confirmed_bookings_lost"] = lost,
            ["seats_with_two_owners"] = twoOwners,
            ["hold_expiry_lateness_after_kill_p50_s"] = Round(P(lateness, 50)),
            ["hold_expiry_lateness_after_kill_p99_s"] = Round(P(lateness, 99)),
            ["hold_expiry_lateness_after_kill_max_s"] = Round(lateness.Length == 0 ? double.NaN : lateness[^1]),
            ["hold_expiry_lateness_past_service_return_p99_s"] = Round(P(latenessPastReturn, 99)),
            ["hold_expiry_lateness_past_service_return_max_s"] = Round(latenessPastReturn.Length == 0 ? double.NaN : latenessPastReturn[^1]),
            ["holds_due_after_kill"] = lateness.Length,
            ["sse_deltas"] = deltas,
            ["sse_resumes_with_last_event_id"] = resumes,
            ["sse_gaps"] = gaps,
            ["sse_snapshots_after_resume"] = snapshotsAfterResume,
            ["replica_lag_bytes_p50"] = Round(P(lagBytes, 50)),
            ["replica_lag_bytes_max"] = Round(lagBytes.DefaultIfEmpty(double.NaN).Max()),
            ["replica_lag_ms_p50"] = Round(P(lagMs, 50)),
            ["replica_lag_ms_max"] = Round(lagMs.DefaultIfEmpty(double.NaN).Max()),
            ["lag_samples"] = lagBytes.Count,
            ["anonymous_seat_map_reads_after_a_hold"] = anonymousReads,
            ["anonymous_seat_map_reads_stale"] = staleReads,
            ["anonymous_seat_map_ms_p50"] = Round(P(anonymousLatency, 50)),
            ["anonymous_seat_map_ms_p99"] = Round(P(anonymousLatency, 99)),
            ["load_seconds"] = Math.Round(loadEnd - loadStart.TotalSeconds, 1),
        };
        File.WriteAllText(Get("--out"), result.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        Console.WriteLine(result.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        await db.DisposeAsync();
        return lost == 0 && twoOwners == 0 && fiveHundreds == 0 && gaps == 0 && without503RetryAfter == 0 ? 0 : 1;
    }

    private static JsonNode? Round(double value) => double.IsNaN(value) ? null : Math.Round(value, 2);
}

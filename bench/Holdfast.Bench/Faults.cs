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

/// <summary>
/// The fault run (bench/faults.sh): hold→checkout load on two nodes while PostgreSQL is crashed
/// and restarted and one node is SIGKILLed mid-checkout and restarted; SMTP hangs throughout (the
/// nodes' configuration). Then SQL checks of what must never happen. The faults themselves are
/// shell commands given by faults.sh, run at fixed points of the load.
/// Usage: Holdfast.Bench faults --nodes URL1,URL2 --connection CS --out FILE
///        --restart-db CMD --kill-node CMD --start-node CMD --logs FILE1,FILE2 [--quick]
/// The second node is the one killed. Exit code 1 when a correctness figure is not 0.
/// </summary>
internal static class Faults
{
    private sealed record Call(double Start, double End, int Node, string Op, int Status);

    private sealed record Row(string Metric, double Value, string Unit, string Target, bool? Met, bool Correctness, string How);

    public static async Task<int> RunAsync(string[] args)
    {
        string Get(string name)
        {
            var i = Array.IndexOf(args, name);
            return i >= 0 && i + 1 < args.Length ? args[i + 1] : throw new ArgumentException($"{name} is required");
        }

        var quick = args.Contains("--quick");
        var nodes = Get("--nodes").Split(',').Select(u => new Uri(u)).ToArray();
        var duration = TimeSpan.FromSeconds(quick ? 50 : 90);
        var faultAAt = TimeSpan.FromSeconds(quick ? 12 : 25);
        var faultBAt = TimeSpan.FromSeconds(quick ? 30 : 55);
        // Connections opened before the crash are dead after it: the checks use a data source of their own.
        var db = NpgsqlDataSource.Create(Get("--connection"));
        var clients = nodes.Select(u => new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 64, ConnectTimeout = TimeSpan.FromSeconds(2) })
        {
            BaseAddress = u,
            Timeout = TimeSpan.FromSeconds(30),
        }).ToArray();
        var clock = Stopwatch.StartNew();
        var calls = new ConcurrentQueue<Call>();
        var confirmed = new ConcurrentBag<long>();
        var inFlightCheckouts = new int[nodes.Length];

        async Task<(int Status, JsonObject? Body)> SendAsync(int node, string op, HttpMethod method, string path, object? body, string? token, string? key = null)
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
                using var response = await clients[node].SendAsync(request);
                var text = await response.Content.ReadAsStringAsync();
                calls.Enqueue(new Call(start, clock.Elapsed.TotalSeconds, node, op, (int)response.StatusCode));
                JsonObject? parsed = null;
                try
                {
                    parsed = text.Length > 0 ? JsonNode.Parse(text) as JsonObject : null;
                }
                catch (JsonException)
                {
                    // Not JSON.
                }

                return ((int)response.StatusCode, parsed);
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException)
            {
                // Connection refused or reset (the node is down), or a timeout: status 0.
                calls.Enqueue(new Call(start, clock.Elapsed.TotalSeconds, node, op, 0));
                return (0, null);
            }
        }

        // Customers: 16 who hold and check out, 4 who hold and let expire; half on each node.
        var tokens = await FaultLoad.RegisterAsync(20, "faults", (i, body) => SendAsync(i % nodes.Length, "register", HttpMethod.Post, "/auth/register", body, null));
        var shows = await FaultLoad.FlightsAsync(db, 300);

        Console.WriteLine($"  {tokens.Length} customers, {shows.Count} flights; load for {duration.TotalSeconds:0} s; PostgreSQL crash at {faultAAt.TotalSeconds:0} s, node 2 SIGKILL at {faultBAt.TotalSeconds:0} s");
        var loadStart = clock.Elapsed;
        bool Loading() => clock.Elapsed - loadStart < duration;

        async Task BookerAsync(int i)
        {
            var node = i % nodes.Length;
            var random = new Random(i);
            while (Loading())
            {
                var show = shows[random.Next(shows.Count)];
                var (status, hold) = await SendAsync(node, "hold", HttpMethod.Post, $"/shows/{show}/holds", new { category = "economy", quantity = 1 }, tokens[i]);
                if (status != 201)
                {
                    await Task.Delay(status is 0 or 503 ? 200 : 20);
                    continue;
                }

                var holdId = hold!["hold_id"]!.GetValue<long>();
                var key = Guid.NewGuid().ToString("N");
                var retryUntil = clock.Elapsed + TimeSpan.FromSeconds(75);
                while (clock.Elapsed < retryUntil)
                {
                    Interlocked.Increment(ref inFlightCheckouts[node]);
                    var (checkout, booking) = await SendAsync(node, "checkout", HttpMethod.Post, $"/holds/{holdId}/booking", new { payment_method = "pm_card_visa" }, tokens[i], key);
                    Interlocked.Decrement(ref inFlightCheckouts[node]);
                    if (checkout == 201)
                    {
                        if (booking!["status"]!.GetValue<string>() == "confirmed")
                        {
                            confirmed.Add(booking["booking_id"]!.GetValue<long>());
                        }

                        break;
                    }

                    // Retry with the same key while the node or database is away or the key is in flight.
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
            var node = i % nodes.Length;
            var random = new Random(i);
            while (Loading())
            {
                await SendAsync(node, "hold", HttpMethod.Post, $"/shows/{shows[random.Next(shows.Count)]}/holds", new { category = "economy", quantity = 1 + random.Next(2) }, tokens[i]);
                await Task.Delay(400);
            }
        }

        async Task<double> ShellAsync(string command)
        {
            var start = clock.Elapsed.TotalSeconds;
            var info = new ProcessStartInfo("bash") { ArgumentList = { "-c", command } };
            using var process = Process.Start(info)!;
            await process.WaitForExitAsync();
            if (process.ExitCode != 0)
            {
                Console.Error.WriteLine($"  fault command failed ({process.ExitCode}): {command}");
            }

            return clock.Elapsed.TotalSeconds - start;
        }

        double faultA = 0, faultB = 0;
        DateTime faultAWall = default, faultBWall = default, dbBackWall = default;
        var faults = Task.Run(async () =>
        {
            await Task.Delay(faultAAt - (clock.Elapsed - loadStart));
            faultA = clock.Elapsed.TotalSeconds;
            faultAWall = DateTime.UtcNow;
            var took = await ShellAsync(Get("--restart-db"));
            dbBackWall = faultAWall.AddSeconds(took); // pg_ctl -w returns once connections are accepted
            Console.WriteLine($"  fault A at {faultA - loadStart.TotalSeconds:0.0} s: pg_ctl -m immediate restart took {took:0.0} s");

            await Task.Delay(faultBAt - (clock.Elapsed - loadStart));
            var wait = Stopwatch.StartNew();
            while (Volatile.Read(ref inFlightCheckouts[1]) == 0 && wait.Elapsed < TimeSpan.FromSeconds(5))
            {
                await Task.Delay(1);
            }

            var midCheckout = Volatile.Read(ref inFlightCheckouts[1]);
            faultB = clock.Elapsed.TotalSeconds;
            faultBWall = DateTime.UtcNow;
            await ShellAsync(Get("--kill-node"));
            Console.WriteLine($"  fault B at {faultB - loadStart.TotalSeconds:0.0} s: node 2 SIGKILLed with {midCheckout} checkouts in flight; restarting");
            await Task.Delay(1000);
            took = await ShellAsync(Get("--start-node"));
            Console.WriteLine($"  node 2 answering again after {took:0.0} s of start-up");
        });

        await Task.WhenAll(Enumerable.Range(0, 16).Select(BookerAsync).Concat(Enumerable.Range(16, 4).Select(ExpirerAsync)).Append(faults));
        var loadEnd = clock.Elapsed.TotalSeconds;
        Console.WriteLine($"  load done after {loadEnd - loadStart.TotalSeconds:0} s; {confirmed.Count} bookings confirmed by the API; waiting for jobs and payment deadlines to settle");

        await db.DisposeAsync();
        db = NpgsqlDataSource.Create(Get("--connection"));

        // Drain: pending bookings settled by their deadline job, due hold and payment jobs run (emails
        // never drain while SMTP hangs; other due jobs are listed).
        async Task<long> ScalarAsync(string sql, params (string Name, object Value)[] parameters)
        {
            await using var command = db.CreateCommand(sql);
            foreach (var (name, value) in parameters)
            {
                command.Parameters.AddWithValue(name, value);
            }

            return Convert.ToInt64(await command.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
        }

        var drain = Stopwatch.StartNew();
        var drainLimit = TimeSpan.FromSeconds(quick ? 100 : 120);
        long pending = 0, dueJobs = 0;
        while (drain.Elapsed < drainLimit)
        {
            pending = await ScalarAsync("select count(*) from booking where status = 'pending_payment'");
            dueJobs = await ScalarAsync("select count(*) from job where (kind like 'hold%' or kind like 'payment%') and (state = 'running' or (state in ('available', 'retryable') and run_at <= now()))");
            var liveExpired = await ScalarAsync("select count(*) from hold where status = 'active' and expires_at < now() - interval '1 second'");
            if (pending == 0 && dueJobs == 0 && liveExpired == 0)
            {
                break;
            }

            await Task.Delay(1000);
        }

        var left = new List<string>();
        await using (var command = db.CreateCommand("select kind || ' ' || state || ' (attempt ' || attempt || ')' from job where kind <> 'email.send' and (state = 'running' or (state in ('available', 'retryable') and run_at <= now()))"))
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                left.Add(reader.GetString(0));
            }
        }

        Console.WriteLine($"  due jobs left: {string.Join(", ", left)}");
        Console.WriteLine($"  drained after {drain.Elapsed.TotalSeconds:0} s (pending bookings {pending}, due hold and payment jobs {dueJobs})");

        // Figures.
        var rows = new List<Row>();
        void Add(string metric, double value, string unit, string target, bool? met, bool correctness, string how) =>
            rows.Add(new Row(metric, value, unit, target, met, correctness, how));
        void Zero(string metric, long value, string how) => Add(metric, value, "", "0", value == 0, true, how);

        var ids = confirmed.ToArray();
        Zero("confirmed bookings lost", await ScalarAsync("""
            select count(*) from unnest(@ids::bigint[]) as c(id) left join booking b on b.booking_id = c.id
            where b.booking_id is null or b.status <> 'confirmed'
               or not exists (select 1 from booking_seat bs where bs.booking_id = c.id)
               or exists (select 1 from booking_seat bs left join show_seat ss on ss.show_id = bs.show_id and ss.seat_id = bs.seat_id
                          where bs.booking_id = c.id and (not bs.active or ss.state is distinct from 'booked' or ss.booking_id is distinct from c.id))
            """, ("ids", ids)), $"of {ids.Length} bookings the API answered 201 confirmed: booking not confirmed, or a seat not active, not booked, or booked by another");
        Zero("payments without a booking or refund", await ScalarAsync("""
            select (select count(*) from payment_attempt pa join booking b using (booking_id)
                    where pa.status = 'succeeded' and b.status <> 'confirmed'
                      and not exists (select 1 from refund r where r.booking_id = b.booking_id and r.status <> 'failed'))
                 + (select coalesce(sum(greatest(0, paid - 1 - refunds)), 0) from (
                      select pa.booking_id, count(*) as paid,
                             (select count(*) from refund r where r.booking_id = pa.booking_id and r.status <> 'failed') as refunds
                      from payment_attempt pa where pa.status = 'succeeded' group by pa.booking_id) d)
            """), "succeeded attempts whose booking is not confirmed and has no refund (pending or succeeded), plus second successes of one booking not refunded");
        Zero("seats with two owners", await ScalarAsync("""
            select (select count(*) from (select h.show_id, hs.seat_id from hold_seat hs join hold h using (hold_id)
                                          where h.status = 'active' group by 1, 2 having count(*) > 1) a)
                 + (select count(*) from (select bs.show_id, bs.seat_id from booking_seat bs join booking b using (booking_id)
                                          where bs.active and b.status in ('confirmed', 'pending_payment') group by 1, 2 having count(*) > 1) b)
                 + (select count(*) from hold_seat hs join hold h using (hold_id)
                    join booking_seat bs on bs.show_id = h.show_id and bs.seat_id = hs.seat_id and bs.active
                    join booking b on b.booking_id = bs.booking_id and b.status = 'confirmed'
                    where h.status = 'active' and b.hold_id <> h.hold_id)
            """), "a seat in two active holds, in two live bookings, or in an active hold and another's confirmed booking");
        Zero("seat rows disagreeing with their owner", await ScalarAsync("""
            select count(*) from show_seat ss
            left join hold h on h.hold_id = ss.hold_id
            left join booking b on b.booking_id = ss.booking_id
            where (ss.state = 'held' and (h.status is distinct from 'active'
                     or not exists (select 1 from hold_seat hs where hs.hold_id = ss.hold_id and hs.seat_id = ss.seat_id)))
               or (ss.state = 'booked' and (b.status is distinct from 'confirmed'
                     or not exists (select 1 from booking_seat bs where bs.booking_id = ss.booking_id and bs.seat_id = ss.seat_id and bs.active)))
            """), "show_seat held by a hold that is not active (or lacks the seat), or booked by a booking not confirmed (or without the seat)");
        Zero("keys stuck", await ScalarAsync("select count(*) from idempotency_key where response_status is null and coalesce(locked_until, '-infinity') < now()"),
            "idempotency_key rows never answered whose lease lapsed");
        var rescued = await ScalarAsync("select count(*) from job where errors::text like '%lease lapsed%'");
        // A second run can only start while a first still goes on if the first's lease was taken from
        // it; the worker running it then finds that out (its heartbeat or its outcome write matches
        // no row) and logs it. A SIGKILLed node's runs died with it and overlap nothing.
        var leasesLost = Get("--logs").Split(',').Where(File.Exists)
            .Sum(f => File.ReadLines(f).Count(l => l.Contains("lost its lease while running", StringComparison.Ordinal)));
        Zero("jobs run twice while running", leasesLost,
            $"leases taken from a run still going, as the running nodes logged them ('lost its lease while running'); {rescued} jobs were rescued after their lease lapsed, all from the killed node or from claims whose answer the crash lost");
        Add("jobs rescued (lease lapsed)", rescued, "", "", null, false, "jobs whose errors say 'lease lapsed': leased by the killed node, or claimed just before the crash, the claim's answer lost");

        // ended_at − expires_at, or, with notBefore, ended_at − max(expires_at, notBefore): a hold
        // that falls due while PostgreSQL is down cannot be released (nor its seats taken) before it
        // is back, so its lateness past the database's return is the figure the engine answers for.
        async Task<double[]> LatenessAsync(DateTime from, DateTime to, DateTime? notBefore = null)
        {
            await using var command = db.CreateCommand("""
                select extract(epoch from coalesce(ended_at, now()) - greatest(expires_at, @not_before))::float8 from hold
                where expires_at >= @from and expires_at < @to and (status = 'expired' or (status = 'active' and expires_at < now()))
                """);
            command.Parameters.AddWithValue("from", from);
            command.Parameters.AddWithValue("to", to);
            command.Parameters.AddWithValue("not_before", notBefore ?? DateTime.SpecifyKind(DateTime.MinValue, DateTimeKind.Utc));
            var values = new List<double>();
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                values.Add(reader.GetDouble(0));
            }

            return [.. values.Order()];
        }

        // Recovery: from the fault until the first successful hold after the node's last failed call,
        // looking no further than the next fault.
        List<Call> Window(int node, double fault, double until) => [.. calls.Where(c => c.Node == node && c.Start >= fault && c.End <= until)];
        double Recovery(int node, double fault, double until)
        {
            var window = Window(node, fault, until);
            var lastFailure = window.Where(c => c.Status is 0 or >= 500).Select(c => c.End).DefaultIfEmpty(fault).Max();
            var back = window.Where(c => c.Op == "hold" && c.Status == 201 && c.End >= lastFailure).Select(c => c.End).DefaultIfEmpty(double.NaN).Min();
            return Math.Max(0, back - fault);
        }

        string Failures(double fault, double until) => string.Join("; ", Enumerable.Range(0, nodes.Length).Select(n =>
            $"node {n + 1}: {Window(n, fault, until).Count(c => c.Status == 503)}× 503, {Window(n, fault, until).Count(c => c.Status == 0)}× no answer"));

        var recoverA = Enumerable.Range(0, nodes.Length).Select(n => Recovery(n, faultA, faultB)).Max();
        var recoverB = Recovery(1, faultB, loadEnd);
        var recoverBSurvivor = Recovery(0, faultB, loadEnd);
        var lateA = await LatenessAsync(faultAWall, faultAWall.AddSeconds(recoverA + 5));
        var lateB = await LatenessAsync(faultBWall, faultBWall.AddSeconds(recoverB + 5));
        var runStartWall = faultAWall.AddSeconds(-faultA + loadStart.TotalSeconds);
        var lateAll = await LatenessAsync(runStartWall, DateTime.UtcNow);
        var lateCalm = (await LatenessAsync(runStartWall, faultAWall))
            .Concat(await LatenessAsync(faultAWall.AddSeconds(recoverA + 5), faultBWall))
            .Concat(await LatenessAsync(faultBWall.AddSeconds(recoverB + 5), DateTime.UtcNow)).Order().ToArray();
        var lateAPastReturn = await LatenessAsync(faultAWall, faultAWall.AddSeconds(recoverA + 5), dbBackWall);
        Add("hold expiry lateness p99, PostgreSQL crash, past its return", P(lateAPastReturn, 99), "s", "≤ 2", P(lateAPastReturn, 99) <= 2, false,
            $"{lateAPastReturn.Length} holds due from the crash to 5 s after recovery; ended_at − max(expires_at, the moment pg_ctl had PostgreSQL accepting connections again, {(dbBackWall - faultAWall).TotalSeconds:0.0} s after the crash)");
        Add("hold expiry lateness p99, PostgreSQL crash", P(lateA, 99), "s", "", null, false,
            $"the same holds, ended_at − expires_at (still-active late holds: now − expires_at): bounded below by the outage, during which no seat can be released or taken");
        Add("hold expiry lateness p99, node SIGKILL", P(lateB, 99), "s", "≤ 2", P(lateB, 99) <= 2, false,
            $"{lateB.Length} holds due from the kill to 5 s after node 2 answered holds again; max {(lateB.Length > 0 ? lateB[^1] : double.NaN):0.0} s");
        Add("hold expiry lateness p99, SMTP hung (outside A and B)", P(lateCalm, 99), "s", "≤ 2", P(lateCalm, 99) <= 2, false,
            $"{lateCalm.Length} holds due outside the two windows above; the SMTP server never answers for the whole run");
        Add("hold expiry lateness p99, whole run", P(lateAll, 99), "s", "", null, false, $"{lateAll.Length} holds of 5 s due during the run, faults included");

        var statuses = calls.GroupBy(c => c.Status).OrderBy(g => g.Key).Select(g => $"{(g.Key == 0 ? "no answer" : g.Key.ToString(CultureInfo.InvariantCulture))}: {g.Count()}");
        var bad5xx = calls.Count(c => c.Status >= 500 && c.Status != 503);
        Add("5xx other than 503", bad5xx, "", "0", bad5xx == 0, true, $"{calls.Count} calls; {string.Join(", ", statuses)}");
        Add("seconds to recover, PostgreSQL crash", recoverA, "s", "", null, false, $"from pg_ctl -m immediate restart to the first 201 hold after the last failure, slower of the two nodes; {Failures(faultA, faultB)}");
        Add("seconds to recover, node SIGKILL", recoverB, "s", "", null, false,
            $"from SIGKILL to the first 201 hold on the restarted node (1 s down, then start-up); the surviving node: {recoverBSurvivor:0.0} s; {Failures(faultB, loadEnd)}");
        Add("bookings still pending payment", pending, "", "", null, false, $"after the drain ({drain.Elapsed.TotalSeconds:0} s, payment deadline 1 min)");

        // Report.
        var commit = Environment.GetEnvironmentVariable("HOLDFAST_COMMIT") ?? "unknown";
        var table = new StringBuilder();
        table.AppendLine(CultureInfo.InvariantCulture, $"Holdfast fault run — commit {commit} — 2 nodes, {Environment.ProcessorCount} cores, one box");
        table.AppendLine("| figure | value | target | | how |");
        table.AppendLine("| --- | ---: | --- | --- | --- |");
        foreach (var r in rows)
        {
            var value = double.IsNaN(r.Value) ? "–" : r.Value.ToString("0.##", CultureInfo.InvariantCulture) + (r.Unit.Length > 0 ? " " + r.Unit : "");
            table.AppendLine(CultureInfo.InvariantCulture, $"| {r.Metric} | {value} | {r.Target} | {(r.Met is null ? "" : r.Met.Value ? "met" : "MISSED")} | {r.How} |");
        }

        Console.WriteLine();
        Console.WriteLine(table);
        var failed = rows.Where(r => r.Correctness && r.Met == false).Select(r => r.Metric).ToList();
        File.WriteAllText(Get("--out"), JsonSerializer.Serialize(new
        {
            commit,
            at = DateTimeOffset.UtcNow,
            quick,
            confirmed_by_api = ids.Length,
            calls = calls.Count,
            figures = rows.Select(r => new { r.Metric, value = double.IsNaN(r.Value) ? (double?)null : r.Value, r.Unit, r.Target, r.Met, r.Correctness, r.How }),
            passed = failed.Count == 0,
        }, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower }));
        Console.WriteLine(failed.Count == 0 ? "Every correctness figure is 0." : $"FAILED: {string.Join(", ", failed)}");
        await db.DisposeAsync();
        return failed.Count == 0 ? 0 : 1;
    }

    private static double P(double[] sorted, int percentile) =>
        sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(percentile / 100.0 * sorted.Length) - 1)];
}

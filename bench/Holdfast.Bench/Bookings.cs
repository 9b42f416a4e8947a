using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Npgsql;

// The whole booking (issue 17): hold → checkout with the fake gateway's pm_card_visa → confirmed,
// through the HTTP API with real JWTs, with the job workers running (the confirmation emails are
// rendered into the pickup directory) and the server's CPU read from /proc; and the burst of 200
// authenticated requests for the same seats, winners against losers.
internal sealed partial class Bench
{
    private ServerCpu cpu = null!;

    // 7. End-to-end bookings at 16 and 64 clients, beside the raw ceiling of the same SQL.
    private async Task BookingsAsync()
    {
        var shows = await ShowIdsAsync("flight", 2000);
        await DrainJobsAsync();
        var (rawTps, rawLatency, rawCpu) = await PgBenchAsync("booking.sql", shows, 16);
        var rawHow = $"pgbench -M prepared -c 16 -j 2 -T {Duration.TotalSeconds:0} -f booking.sql (hold 2 seats; checkout in one statement; record and confirm with email and reminder jobs in one transaction; read back) over 2,000 flights, after a CHECKPOINT; latency avg {rawLatency}";
        Add("bookings", "raw ceiling (pgbench)", rawTps, "/s", "", null, rawHow);
        Add("bookings", "raw ceiling: PostgreSQL CPU per booking", rawCpu, "ms", "", null, rawHow + "; PostgreSQL processes' CPU from /proc (pgbench itself excluded)");

        // Warm-up, not measured: JIT tiers, pooled connections, prepared statements, the job workers.
        var warmUp = await WarmUpAsync(args.Quick ? TimeSpan.FromSeconds(2) : TimeSpan.FromSeconds(5), slice => BookingCyclesAsync(shows, 64, slice));
        await DrainJobsAsync();
        var best = 0.0;
        foreach (var clients in new[] { 16, 64 })
        {
            await CheckpointAsync();
            await DrainJobsAsync();
            var mailBefore = MailCount();
            var statements = await StatementsAsync(null);
            var walBefore = await WalAsync();
            var before = cpu.Read();
            var (sorted, errors, conflicts, seconds) = await BookingCyclesAsync(shows, clients, Duration);
            statements = await StatementsAsync(statements);
            if (statements is not null && clients == 64)
            {
                await WriteTopStatementsAsync(Path.ChangeExtension(args.Out, null) + "-statements.txt");
            }

            var drain = await DrainJobsAsync();
            var after = cpu.Read();
            var wal = await WalAsync();
            var mails = MailCount() - mailBefore;
            var bookings = sorted.Length;
            var perSecond = bookings / seconds;
            best = Math.Max(best, perSecond);
            var (app, pg) = (after.App - before.App, after.Postgres - before.Postgres);
            var cpuPerBooking = bookings == 0 ? double.NaN : (app + pg) * 1000 / bookings;
            var scenario = $"bookings, {clients} clients";
            var how = $"{clients} clients, each booking = POST /shows/{{id}}/holds (2 economy seats, random one of 2,000 flights) + POST /holds/{{id}}/booking with pm_card_visa → confirmed; " +
                      $"{seconds:0.#} s after a CHECKPOINT and {warmUp}; latency at the client, both requests";
            Add(scenario, "bookings/s", perSecond, "/s", clients == 64 ? "≥ 600" : "", clients == 64 ? perSecond >= 600 : null, how);
            Add(scenario, "p50", P(sorted, 50), "ms", "", null, how);
            Add(scenario, "p95", P(sorted, 95), "ms", "", null, how);
            Add(scenario, "p99", P(sorted, 99), "ms", clients == 64 ? "≤ 150" : "", clients == 64 ? P(sorted, 99) <= 150 : null, how);
            Add(scenario, "errors", errors, "", "0", errors == 0, $"non-2xx, or a checkout not confirmed; {conflicts} 409s on the hold (retried on another flight)");
            Add(scenario, "server CPU per booking", cpuPerBooking, "ms", "≤ 2.5", cpuPerBooking <= 2.5,
                $"app {app * 1000 / Math.Max(1, bookings):0.00} ms + PostgreSQL {pg * 1000 / Math.Max(1, bookings):0.00} ms (utime+stime from /proc, the load generator excluded) " +
                $"over the window and the {drain:0.0} s the job workers took afterwards to finish its due jobs; {mails} emails rendered to the pickup directory");
            Add(scenario, "job backlog drained after the window", drain, "s", "", null, "due jobs (the confirmation emails) still queued when the window closed, until none are left");
            if (statements is not null && clients == 64 && bookings > 0)
            {
                await WriteWalRecordsAsync(Path.ChangeExtension(args.Out, null) + "-wal.txt", walBefore, wal, bookings);
            }

            if (bookings > 0)
            {
                Add(scenario, "WAL per booking", (double)(wal - walBefore) / bookings, "B", "", null,
                    "WAL inserted over the window and the drain after it (pg_current_wal_insert_lsn: app, job workers, autovacuum, and the full-page images of pages first written after the window's CHECKPOINT) / bookings");
            }

            if (statements is { } counted && bookings > 0)
            {
                Add(scenario, "statements per booking", counted.Statements / (double)bookings, "", "", null,
                    "pg_stat_statements calls in the window (app and its job workers; the 7 statements of each Npgsql pool reset apart) / bookings; only when the cluster loads pg_stat_statements (HOLDFAST_BENCH_PROFILE=1)");
                Add(scenario, "pool resets per booking", counted.Rents / (double)bookings, "", "", null,
                    "Npgsql's reset on reusing a pooled connection, 7 statements each (SET SESSION AUTHORIZATION DEFAULT calls in pg_stat_statements) / bookings, app and job workers; 0 with No Reset On Close");
            }
        }

        if (rawTps > 0)
        {
            Add("bookings", "API / raw ceiling", best / rawTps, "×", "", null, "API bookings/s (the better of 16 and 64 clients) over pgbench's on the same SQL");
        }

        await using var check = db.CreateCommand("""
            select (select count(*) from (
                      select bs.show_id, bs.seat_id from booking_seat bs join booking b using (booking_id)
                      where bs.show_id = any(@shows) and bs.active and b.status = 'confirmed' group by 1, 2 having count(*) > 1) twice)
                 + (select count(*) from booking_seat bs join show_seat ss on ss.show_id = bs.show_id and ss.seat_id = bs.seat_id
                    where bs.show_id = any(@shows) and bs.active and (ss.state <> 'booked' or ss.booking_id is distinct from bs.booking_id))
            """);
        check.Parameters.AddWithValue("shows", shows);
        var oversold = (long)(await check.ExecuteScalarAsync())!;
        Add("bookings", "oversold (in the DB)", oversold, "", "0", oversold == 0,
            "seats in two confirmed bookings, plus booked seats whose show_seat row is not booked by that booking, over the 2,000 flights");
    }

    private async Task<(double[] Sorted, int Errors, int Conflicts, double Seconds)> BookingCyclesAsync(long[] shows, int clients, TimeSpan duration)
    {
        var latencies = new ConcurrentBag<double>();
        var errors = 0;
        var conflicts = 0;
        var deadline = Stopwatch.StartNew();
        var workers = Enumerable.Range(0, clients).Select(async w =>
        {
            var random = new Random(1000 + w);
            var (_, token) = customers[w % customers.Count];
            while (deadline.Elapsed < duration)
            {
                var show = shows[random.Next(shows.Length)];
                var timer = Stopwatch.StartNew();
                long holdId;
                using (var hold = await http.SendAsync(Authorized(HttpMethod.Post, $"/shows/{show}/holds", new { category = "economy", quantity = 2 }, token)))
                {
                    if (hold.StatusCode == HttpStatusCode.Conflict)
                    {
                        Interlocked.Increment(ref conflicts);
                        continue;
                    }

                    if (hold.StatusCode != HttpStatusCode.Created)
                    {
                        Interlocked.Increment(ref errors);
                        continue;
                    }

                    holdId = (await hold.Content.ReadFromJsonAsync<JsonObject>())!["hold_id"]!.GetValue<long>();
                }

                using var booking = await http.SendAsync(Authorized(HttpMethod.Post, $"/holds/{holdId}/booking", new { payment_method = "pm_card_visa" }, token));
                var elapsed = timer.Elapsed.TotalMilliseconds;
                if (booking.StatusCode == HttpStatusCode.Created
                    && (await booking.Content.ReadFromJsonAsync<JsonObject>())!["status"]?.GetValue<string>() == "confirmed")
                {
                    latencies.Add(elapsed);
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

    // With pg_stat_statements loaded: resets it (given null) or returns the calls since, apart from
    // the bench's own queries, and Npgsql's pool resets (one per reuse of a pooled connection).
    // The cluster's WAL insert position, in bytes from the start (exact, unlike pg_stat_wal, which backends report when idle).
    private async Task<decimal> WalAsync()
    {
        await using var read = db.CreateCommand("select pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')");
        return (decimal)(await read.ExecuteScalarAsync())!;
    }

    // The WAL between two insert positions by record type, per booking (pg_walinspect), when the
    // profile loaded it (HOLDFAST_BENCH_PROFILE=1): which writes a booking's WAL is made of. It reads
    // up to the flushed position at most (PostgreSQL 15 refuses an end past it).
    private async Task WriteWalRecordsAsync(string path, decimal from, decimal to, int bookings)
    {
        const string range = "('0/0'::pg_lsn + @from), least('0/0'::pg_lsn + @to, pg_current_wal_flush_lsn())";
        try
        {
            var lines = new List<string> { $"WAL per booking by record type, over {bookings} bookings (the window and its drain)", "record_type\trecords\trecord_bytes\tfpi_bytes" };
            await ReadRowsAsync($"""
                select "resource_manager/record_type", round(count::numeric / @bookings, 2), round(record_size::numeric / @bookings), round(fpi_size::numeric / @bookings)
                from pg_get_wal_stats({range}, true)
                where count > 0 order by count desc
                """);
            lines.AddRange(["", "The same by record type and the relation of its first block (the top 40)", "record_type\trelation\trecords\tfpi_bytes"]);
            await ReadRowsAsync($"""
                select r.resource_manager || '/' || r.record_type, coalesce(c.relname, m[1]), round(count(*)::numeric / @bookings, 2), round(sum(r.fpi_length)::numeric / @bookings)
                from pg_get_wal_records_info({range}) r
                cross join lateral regexp_match(r.block_ref, 'rel \d+/\d+/(\d+)') m
                left join pg_class c on c.relfilenode = m[1]::oid
                group by 1, 2 order by 3 desc limit 40
                """);
            await File.WriteAllLinesAsync(path, lines);

            async Task ReadRowsAsync(string sql)
            {
                await using var command = db.CreateCommand(sql);
                command.Parameters.AddWithValue("from", from);
                command.Parameters.AddWithValue("to", to);
                command.Parameters.AddWithValue("bookings", (decimal)bookings);
                lines.AddRange(await TabSeparatedRowsAsync(command));
            }
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedFunction)
        {
            // No pg_walinspect: not profiling.
        }
    }

    private async Task<(long Statements, long Rents)?> StatementsAsync((long, long)? since)
    {
        try
        {
            if (since is null)
            {
                await using var reset = db.CreateCommand("select pg_stat_statements_reset()");
                await reset.ExecuteNonQueryAsync();
                return (0, 0);
            }

            await using var read = db.CreateCommand("""
                select coalesce(sum(calls) filter (where query not in ('SET SESSION AUTHORIZATION DEFAULT', 'SELECT pg_advisory_unlock_all()', 'RESET ALL',
                                                                       'DISCARD SEQUENCES', 'DISCARD TEMP', 'CLOSE ALL', 'UNLISTEN *')
                                                     and query not like 'select pg_stat_statements_reset()%'), 0)::bigint,
                       coalesce(sum(calls) filter (where query = 'SET SESSION AUTHORIZATION DEFAULT'), 0)::bigint
                from pg_stat_statements
                """);
            await using var reader = await read.ExecuteReaderAsync();
            await reader.ReadAsync();
            return (reader.GetInt64(0), reader.GetInt64(1));
        }
        catch (PostgresException)
        {
            return null; // pg_stat_statements not loaded
        }
    }

    private async Task WriteTopStatementsAsync(string path)
    {
        await using var top = db.CreateCommand("""
            select calls, plans, round(total_exec_time::numeric, 1), round(total_plan_time::numeric, 1), round((total_exec_time / nullif(calls, 0))::numeric, 3),
                   rows, left(regexp_replace(query, '\s+', ' ', 'g'), 200)
            from pg_stat_statements order by total_exec_time + total_plan_time desc limit 40
            """);
        await File.WriteAllLinesAsync(path, ["calls\tplans\texec_ms\tplan_ms\tmean_ms\trows\tquery", .. await TabSeparatedRowsAsync(top)]);
    }

    // Each row of the command's result as one line, its columns separated by tabs (invariant culture).
    private static async Task<List<string>> TabSeparatedRowsAsync(NpgsqlCommand command)
    {
        var lines = new List<string>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            lines.Add(string.Join('\t', Enumerable.Range(0, reader.FieldCount).Select(i => Convert.ToString(reader.GetValue(i), CultureInfo.InvariantCulture))));
        }

        return lines;
    }

    // Waits (at most 120 s) until no job that is due is waiting or running; returns the seconds it took.
    private async Task<double> DrainJobsAsync()
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(120))
        {
            await using var due = db.CreateCommand("select count(*) from job where state in ('available', 'running', 'retryable') and run_at <= now()");
            if ((long)(await due.ExecuteScalarAsync())! == 0)
            {
                break;
            }

            await Task.Delay(50);
        }

        return clock.Elapsed.TotalSeconds;
    }

    private static int MailCount()
    {
        var dir = Environment.GetEnvironmentVariable("Email__PickupDirectory");
        return string.IsNullOrEmpty(dir) || !Directory.Exists(dir) ? 0 : Directory.EnumerateFiles(dir).Count();
    }

    // pgbench over one script with this run's flights and customers, after a CHECKPOINT: transactions
    // per second, average latency, and PostgreSQL's CPU per transaction (ms).
    private async Task<(double Tps, string Latency, double CpuMs)> PgBenchAsync(string scriptName, long[] shows, int clients)
    {
        var script = Path.Combine(AppContext.BaseDirectory, "pgbench", scriptName);
        var csb = new NpgsqlConnectionStringBuilder(args.Connection);
        var start = new ProcessStartInfo(args.PgBench) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-n", "-M", "prepared", "-h", csb.Host!, "-p", csb.Port.ToString(CultureInfo.InvariantCulture), "-U", csb.Username!,
                     "-c", clients.ToString(CultureInfo.InvariantCulture), "-j", "2", "-T", ((int)Duration.TotalSeconds).ToString(CultureInfo.InvariantCulture), "-f", script,
                     "-D", $"min_show={shows.Min()}", "-D", $"max_show={shows.Min() + 1999}",
                     "-D", $"min_uid={customers.Min(c => c.Id)}", "-D", $"max_uid={customers.Max(c => c.Id)}", csb.Database! })
        {
            start.ArgumentList.Add(a);
        }

        await CheckpointAsync();
        var before = cpu.Read();
        using var process = Process.Start(start)!;
        var output = await process.StandardOutput.ReadToEndAsync();
        var errors = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        var after = cpu.Read();
        var lines = output.Split('\n');
        var tps = lines.Where(l => l.StartsWith("tps = ", StringComparison.Ordinal))
            .Select(l => double.Parse(l.Split(' ')[2], CultureInfo.InvariantCulture)).DefaultIfEmpty(0).First();
        var transactions = lines.Where(l => l.StartsWith("number of transactions actually processed: ", StringComparison.Ordinal))
            .Select(l => double.Parse(l.Split(' ')[^1], CultureInfo.InvariantCulture)).DefaultIfEmpty(0).First();
        var latency = lines.FirstOrDefault(l => l.StartsWith("latency average", StringComparison.Ordinal))?.Split('=')[1].Trim() ?? "?";
        if (tps == 0 || errors.Contains("aborted", StringComparison.Ordinal))
        {
            Console.Error.WriteLine(output + errors);
        }

        return (tps, latency, transactions == 0 ? double.NaN : (after.Postgres - before.Postgres) * 1000 / transactions);
    }

    // 8. The burst: 200 authenticated requests released together for the same seats. A loser must cost
    // the server no more CPU than a winner, and the whole burst must be answered within
    // 1.2 × (200 / the box's authenticated request rate).
    private async Task BurstAsync()
    {
        const int size = 200;
        var rounds = args.Quick ? 3 : 10;
        string[] seats = ["10A", "10B", "10C", "10D", "10E", "10F", "11A", "11B", "11C", "11D", "11E", "11F", "12A", "12B", "12C", "12D", "12E", "12F", "14A", "14B"];
        var shows = await ShowIdsAsync("flight", 6 * rounds + 2);
        string Token(int i) => customers[i % customers.Count].Token;

        // Everyone loses: the 20 seats are held first, then 200 ask for them.
        var losing = shows[(5 * rounds)..(6 * rounds + 2)];
        foreach (var show in losing)
        {
            using var taken = await http.SendAsync(Authorized(HttpMethod.Post, $"/shows/{show}/holds", new { seats }, Token(size)));
            taken.EnsureSuccessStatusCode();
        }

        // The box's authenticated request rate: 64 clients, closed loop, the burst's common request (a
        // loser's: a seat already held). The burst target follows from it.
        var rateShow = losing[^1];
        var answered = 0;
        var rateClock = Stopwatch.StartNew();
        var rateFor = TimeSpan.FromSeconds(args.Quick ? 3 : 8);
        await Task.WhenAll(Enumerable.Range(0, 64).Select(async w =>
        {
            while (rateClock.Elapsed < rateFor)
            {
                using var response = await http.SendAsync(Authorized(HttpMethod.Post, $"/shows/{rateShow}/holds", new { seats = new[] { seats[w % seats.Length] } }, Token(w)));
                Interlocked.Increment(ref answered);
            }
        }));
        var rate = answered / rateClock.Elapsed.TotalSeconds;
        var allowed = 1.2 * size / rate * 1000;

        // One burst on a show: returns (ms from release to the last answer, statuses) and the server CPU it took.
        async Task<(double Ms, int Created, int Conflicts, int Other, double CpuSeconds)> BurstOnAsync(Func<int, long> show, Func<int, object> body)
        {
            using var gate = new SemaphoreSlim(0);
            int created = 0, conflicts = 0, other = 0;
            var racers = Enumerable.Range(0, size).Select(async i =>
            {
                await gate.WaitAsync();
                using var response = await http.SendAsync(Authorized(HttpMethod.Post, $"/shows/{show(i)}/holds", body(i), Token(i)));
                _ = response.StatusCode switch
                {
                    HttpStatusCode.Created => Interlocked.Increment(ref created),
                    HttpStatusCode.Conflict => Interlocked.Increment(ref conflicts),
                    _ => Interlocked.Increment(ref other),
                };
            }).ToList();
            await Task.Delay(200); // every racer waiting at the gate
            var before = cpu.Read();
            var clock = Stopwatch.StartNew();
            gate.Release(size);
            await Task.WhenAll(racers);
            var ms = clock.Elapsed.TotalMilliseconds;
            await Task.Delay(100); // let the last answers' work settle
            var after = cpu.Read();
            return (ms, created, conflicts, other, after.App + after.Postgres - before.App - before.Postgres);
        }

        // Warm-up: one burst of each kind, not counted.
        await BurstOnAsync(_ => losing[^2], i => new { seats = new[] { seats[i % seats.Length] } });

        var mixedTimes = new List<double>();
        double loserCpu = 0, winnerCpu = 0;
        int losers = 0, winners = 0, mixedWins = 0, other = 0;
        for (var r = 0; r < rounds; r++)
        {
            // The burst itself: 200 customers, each asking for 1 of the same 20 free seats.
            var mixed = await BurstOnAsync(_ => shows[r], i => new { seats = new[] { seats[i % seats.Length] } });
            mixedTimes.Add(mixed.Ms);
            mixedWins += mixed.Created;
            other += mixed.Other;

            // All losers: the same 200 requests for 20 seats already held.
            var lose = await BurstOnAsync(_ => losing[r], i => new { seats = new[] { seats[i % seats.Length] } });
            loserCpu += lose.CpuSeconds;
            losers += lose.Conflicts;
            other += lose.Other;

            // All winners: 200 requests for 200 different free seats (1 economy seat each, best available,
            // 50 on each of 4 flights).
            var win = await BurstOnAsync(i => shows[rounds + (4 * r) + (i % 4)], _ => new { category = "economy", quantity = 1 });
            winnerCpu += win.CpuSeconds;
            winners += win.Created;
            other += win.Other;
        }

        var sortedTimes = mixedTimes.Order().ToArray();
        var perLoser = loserCpu * 1000 / Math.Max(1, losers);
        var perWinner = winnerCpu * 1000 / Math.Max(1, winners);
        var how = $"{rounds} rounds (after 1 unmeasured) of {size} authenticated POST /shows/{{id}}/holds released together, each for 1 of the same 20 seats of one flight; {mixedWins} won";
        Add("burst", "authenticated request rate", rate, "/s", "", null,
            $"64 clients, closed loop, {rateFor.TotalSeconds:0} s: authenticated POST /shows/{{id}}/holds for a seat already held (the burst's common answer, a 409)");
        Add("burst", "whole burst answered, worst", sortedTimes[^1], "ms", $"≤ {allowed:0}", sortedTimes[^1] <= allowed, how + $"; target 1.2 × {size} / the rate");
        Add("burst", "whole burst answered, median", P(sortedTimes, 50), "ms", "", null, how);
        Add("burst", "server CPU per loser", perLoser, "ms", $"≤ winner", perLoser <= perWinner,
            $"{rounds} bursts of {size} where every request loses (the 20 seats already held): app + PostgreSQL CPU from /proc over the burst / {losers} 409s");
        Add("burst", "server CPU per winner", perWinner, "ms", "", null,
            $"{rounds} bursts of {size} where every request wins (1 best-available economy seat each, 50 per flight): CPU / {winners} holds");
        Add("burst", "5xx and other answers", other, "", "0", other == 0, "neither 201 nor 409");
    }
}

/// <summary>CPU seconds used so far by the app process and by the PostgreSQL cluster (postmaster, its live children, and the children it reaped).</summary>
internal sealed class ServerCpu(int appPid, int postmasterPid)
{
    private static readonly double Tick = 100.0; // USER_HZ: /proc reports clock ticks of 1/100 s on Linux

    public static async Task<ServerCpu> FindAsync(NpgsqlDataSource db, int appPid)
    {
        var postmaster = 0;
        try
        {
            await using var command = db.CreateCommand("show data_directory");
            var dir = (string)(await command.ExecuteScalarAsync())!;
            postmaster = int.Parse(File.ReadLines(Path.Combine(dir, "postmaster.pid")).First(), CultureInfo.InvariantCulture);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or NpgsqlException or FormatException)
        {
            Console.Error.WriteLine($"PostgreSQL's CPU will not be counted: {ex.Message}");
        }

        return new ServerCpu(appPid, postmaster);
    }

    /// <summary>
    /// CPU seconds the app's tiered JIT compiler thread has used (utime + stime of the threads named
    /// <c>.NET Tiered Com</c>): it recompiles hot methods for a while after start, and its work is
    /// warm-up, not the cost of a request.
    /// </summary>
    public double JitSeconds()
    {
        double seconds = 0;
        try
        {
            foreach (var task in Directory.EnumerateDirectories($"/proc/{appPid}/task"))
            {
                if (File.ReadAllText(Path.Combine(task, "comm")).StartsWith(".NET Tiered Com", StringComparison.Ordinal)
                    && Stat($"{task}/stat") is { } thread)
                {
                    seconds += (thread.Utime + thread.Stime) / Tick;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // The thread or the process went away: count what was read.
        }

        return seconds;
    }

    public (double App, double Postgres) Read()
    {
        var app = Stat(appPid) is { } a ? (a.Utime + a.Stime) / Tick : 0;
        double pg = 0;
        if (postmasterPid > 0 && Stat(postmasterPid) is { } p)
        {
            // Backends that exited were reaped by the postmaster: their CPU is in its cutime/cstime.
            pg = (p.Utime + p.Stime + p.Cutime + p.Cstime) / Tick;
            foreach (var dir in Directory.EnumerateDirectories("/proc"))
            {
                if (int.TryParse(Path.GetFileName(dir), out var pid) && pid != postmasterPid && Stat(pid) is { } child && child.Ppid == postmasterPid)
                {
                    pg += (child.Utime + child.Stime) / Tick;
                }
            }
        }

        return (app, pg);
    }

    private static (int Ppid, long Utime, long Stime, long Cutime, long Cstime)? Stat(int pid) => Stat($"/proc/{pid}/stat");

    // A process's or a thread's stat file (/proc/<pid>/stat, /proc/<pid>/task/<tid>/stat).
    private static (int Ppid, long Utime, long Stime, long Cutime, long Cstime)? Stat(string path)
    {
        try
        {
            var text = File.ReadAllText(path);
            var f = text[(text.LastIndexOf(')') + 2)..].Split(' ');
            // Fields after the command: state(3) ppid(4) ... utime(14) stime(15) cutime(16) cstime(17).
            return (int.Parse(f[1], CultureInfo.InvariantCulture), long.Parse(f[11], CultureInfo.InvariantCulture), long.Parse(f[12], CultureInfo.InvariantCulture),
                long.Parse(f[13], CultureInfo.InvariantCulture), long.Parse(f[14], CultureInfo.InvariantCulture));
        }
        catch (IOException)
        {
            return null;
        }
    }
}

using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using DotNet.Testcontainers.Builders;
using Holdfast.Infrastructure.Database;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;
using Testcontainers.PostgreSql;

[assembly: AssemblyFixture(typeof(Holdfast.Tests.Infrastructure.PostgresServer))]

namespace Holdfast.Tests.Infrastructure;

/// <summary>Where the run's PostgreSQL came from.</summary>
public enum TestDatabaseSource
{
    /// <summary>The server named by HOLDFAST_TEST_DATABASE_URL.</summary>
    DatabaseUrl,

    /// <summary>A <see cref="PostgresServer.Image"/> container started by Testcontainers.</summary>
    Container,

    /// <summary>A throwaway cluster of the local PostgreSQL binaries.</summary>
    LocalBinaries,
}

/// <summary>
/// One PostgreSQL for the whole test run (GUIDE §6, decision 0015), the first of: the server named by
/// HOLDFAST_TEST_DATABASE_URL; a <see cref="Image"/> container started by Testcontainers when a Docker
/// engine answers; a throwaway cluster started here with initdb + pg_ctl in a temp folder on a free port
/// (as the postgres user when running as root). The choice and its reason go to stderr once
/// (<see cref="Choice"/>). Migrations run once into a template database; each test class gets its own
/// copy with CREATE DATABASE ... TEMPLATE. The container or the cluster is removed at the end.
/// </summary>
public sealed class PostgresServer : IAsyncLifetime
{
    /// <summary>The Docker Hub image of the container path.</summary>
    public const string Image = "postgres:15";

    private const string TemplateName = "holdfast_template";
    private static int announcements;
    private PostgreSqlContainer? container;
    private string? clusterDir;
    private string? binDir;
    private int databaseCounter;

    private static PostgresServer? instance;

    /// <summary>The run's server, for class fixtures (set once the assembly fixture is initialized).</summary>
    public static PostgresServer Instance => instance ?? throw new InvalidOperationException("PostgresServer not initialized.");

    /// <summary>Connection string of the server's maintenance database.</summary>
    public string AdminConnectionString { get; private set; } = "";

    /// <summary>Which server this run uses.</summary>
    public TestDatabaseSource Source { get; private set; }

    /// <summary>The line written to stderr at start: which server and why.</summary>
    public string Choice { get; private set; } = "";

    /// <summary>How long asking Testcontainers for a Docker engine took (zero when not asked).</summary>
    public TimeSpan DockerProbeTime { get; private set; }

    /// <summary>
    /// What asking for Docker added to the local path's start: the wait for the probe and initdb (run side
    /// by side) less initdb's own time. Zero when not asked or when the probe finished first.
    /// </summary>
    public TimeSpan DockerProbeDelay { get; private set; }

    /// <summary>How many times a choice was announced in this process (once per run).</summary>
    internal static int Announcements => Volatile.Read(ref announcements);

    public async ValueTask InitializeAsync()
    {
        // Race tests park dozens of threads on a barrier; do not wait for the pool to grow slowly.
        ThreadPool.SetMinThreads(256, 256);
        var external = Environment.GetEnvironmentVariable("HOLDFAST_TEST_DATABASE_URL");
        if (!string.IsNullOrEmpty(external))
        {
            AdminConnectionString = external;
            Announce(TestDatabaseSource.DatabaseUrl, "the server named by HOLDFAST_TEST_DATABASE_URL (set, so Docker is not asked)");
        }
        else
        {
            await ChooseContainerOrLocalAsync();
        }

        await using (var admin = new NpgsqlConnection(AdminConnectionString))
        {
            await admin.OpenAsync();
            await Execute(admin, $"drop database if exists {TemplateName}");
            await Execute(admin, $"create database {TemplateName}");
        }

        await using (var template = NpgsqlDataSource.Create(ConnectionString(TemplateName)))
        {
            var runner = new MigrationRunner(template, Options.Create(new DatabaseOptions()), NullLogger<MigrationRunner>.Instance);
            await runner.MigrateAsync(dryRun: false, CancellationToken.None);
        }

        // CREATE DATABASE ... TEMPLATE needs the template to have no open connections.
        NpgsqlConnection.ClearAllPools();
        instance = this;
    }

    /// <summary>A fresh, migrated, empty database of its own; returns its connection string.</summary>
    public async Task<string> CreateDatabaseAsync(bool migrated = true)
    {
        var name = $"holdfast_test_{Environment.ProcessId}_{Interlocked.Increment(ref databaseCounter)}";
        await using var admin = new NpgsqlConnection(AdminConnectionString);
        await admin.OpenAsync();
        await Execute(admin, $"drop database if exists {name}");
        await Execute(admin, migrated ? $"create database {name} template {TemplateName}" : $"create database {name}");
        return ConnectionString(name);
    }

    public string ConnectionString(string database) =>
        new NpgsqlConnectionStringBuilder(AdminConnectionString) { Database = database, MaxPoolSize = 200 }.ConnectionString;

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        if (container is not null)
        {
            await container.DisposeAsync();
        }

        StopAndRemoveCluster(stop: Source == TestDatabaseSource.LocalBinaries);
    }

    /// <summary>
    /// Asks Testcontainers for a Docker engine while initdb prepares the local cluster beside it, so a
    /// machine without Docker (CI) waits for the probe only if it outlasts initdb. A container that
    /// starts wins and the unstarted cluster folder is removed; otherwise the cluster is started.
    /// </summary>
    private async Task ChooseContainerOrLocalAsync()
    {
        binDir = LocalBinaries();
        var clock = Stopwatch.StartNew();
        var probe = Task.Run(() =>
        {
            var answer = ProbeDocker();
            DockerProbeTime = clock.Elapsed;
            return answer;
        });
        var initdb = binDir is null ? Task.FromResult((Start: TimeSpan.Zero, End: TimeSpan.Zero)) : Task.Run(() =>
        {
            var start = clock.Elapsed;
            InitCluster();
            return (Start: start, End: clock.Elapsed);
        });
        var (built, unavailable) = await probe;
        var whyLocal = unavailable ?? await StartContainerAsync(built!);
        if (whyLocal is null)
        {
            await Task.WhenAny(initdb); // let it finish (a failure does not matter now), then remove its folder
            _ = initdb.Exception;
            StopAndRemoveCluster(stop: false);
            Announce(TestDatabaseSource.Container, $"a {Image} container started by Testcontainers (a Docker engine answered in {DockerProbeTime.TotalSeconds:0.00} s)");
            return;
        }

        if (binDir is null)
        {
            // Fail loudly: a run without a database must not pass (scripts/test.sh installs PostgreSQL).
            throw new InvalidOperationException(
                $"No PostgreSQL: {whyLocal}, and no local binaries under /usr/lib/postgresql. Set HOLDFAST_TEST_DATABASE_URL, " +
                "start Docker, or install PostgreSQL (scripts/test.sh does: apt-get install postgresql).");
        }

        var initdbRun = await initdb;
        // What the probe added to the start: the wait for both, less what initdb alone takes.
        var bothDone = DockerProbeTime > initdbRun.End ? DockerProbeTime : initdbRun.End;
        DockerProbeDelay = bothDone - (initdbRun.End - initdbRun.Start);
        var where = StartCluster();
        Announce(TestDatabaseSource.LocalBinaries,
            $"a throwaway cluster of the local binaries ({where}), because {whyLocal}; asking took {DockerProbeTime.TotalSeconds:0.00} s " +
            $"beside initdb's {(initdbRun.End - initdbRun.Start).TotalSeconds:0.00} s");
    }

    /// <summary>
    /// Asks Testcontainers for a Docker engine: building a container finds and pings the endpoint
    /// (DOCKER_HOST, ~/.testcontainers.properties, the Docker context, the usual sockets). With none it
    /// throws <see cref="DockerUnavailableException"/>; nothing is pulled or started.
    /// </summary>
    /// <returns>The built, unstarted container, or why Docker cannot be used.</returns>
    internal static (PostgreSqlContainer? Container, string? Unavailable) ProbeDocker()
    {
        try
        {
            return (ContainerBuilder().Build(), null);
        }
        catch (DockerUnavailableException ex)
        {
            return (null, $"no Docker engine: {nameof(DockerUnavailableException)} ({Detail(ex)})");
        }
        catch (DockerConfigurationException ex)
        {
            return (null, $"the Docker configuration is unreadable: {nameof(DockerConfigurationException)} ({Detail(ex)})");
        }
    }

    /// <summary>
    /// The container path: the official image with the settings the local cluster gets. The module already
    /// passes <c>-c fsync=off -c full_page_writes=off -c synchronous_commit=off</c>; the rest are added.
    /// </summary>
    private static PostgreSqlBuilder ContainerBuilder() => new PostgreSqlBuilder(Image)
        .WithUsername("holdfast")
        .WithPassword("holdfast")
        .WithCommand("-c", "max_connections=500")
        // Same encoding and collation as the local cluster (initdb -E UTF8 --locale=C.UTF-8), so ordering matches.
        .WithEnvironment("POSTGRES_INITDB_ARGS", "--encoding=UTF8 --locale=C.UTF-8");

    /// <returns>Null when the container is up, else why the run falls back to the local binaries.</returns>
    private async Task<string?> StartContainerAsync(PostgreSqlContainer built)
    {
        try
        {
            await built.StartAsync();
        }
        catch (Exception ex) // whatever stops the container (no image, no network, a timeout) is reported and the local path taken
        {
            await built.DisposeAsync();
            return $"a Docker engine answered but the {Image} container did not start: {ex.GetType().Name} ({Detail(ex)})";
        }

        container = built;
        AdminConnectionString = new NpgsqlConnectionStringBuilder(built.GetConnectionString()) { IncludeErrorDetail = true }.ConnectionString;
        return null;
    }

    /// <summary>
    /// An exception's message on one line; for the endpoints Testcontainers tried (an aggregate under
    /// its <see cref="DockerUnavailableException"/>), each distinct failure.
    /// </summary>
    private static string Detail(Exception ex)
    {
        IEnumerable<Exception> causes = ex.InnerException is AggregateException all ? all.InnerExceptions : [ex];
        return string.Join("; ", causes.Select(e => e.Message.Split('\n')[0].Trim()).Distinct(StringComparer.Ordinal));
    }

    private void Announce(TestDatabaseSource source, string why)
    {
        Source = source;
        Choice = $"Holdfast tests: PostgreSQL is {why}.";
        Interlocked.Increment(ref announcements);
        Console.Error.WriteLine(Choice);
    }

    /// <summary>The newest <c>/usr/lib/postgresql/*/bin</c> that has initdb, or null.</summary>
    private static string? LocalBinaries() =>
        Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql").Select(d => Path.Combine(d, "bin"))
                .Where(d => File.Exists(Path.Combine(d, "initdb"))).OrderBy(d => d, StringComparer.Ordinal).LastOrDefault()
            : null;

    private void InitCluster()
    {
        clusterDir = Directory.CreateTempSubdirectory("holdfast-test-pg-").FullName;
        if (IsRoot)
        {
            Run("chown", ["postgres", clusterDir]);
        }

        RunAsPostgres(Path.Combine(binDir!, "initdb"), ["-D", Path.Combine(clusterDir, "data"), "-U", "holdfast", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"]);
    }

    /// <returns>Where the cluster runs, for the announcement.</returns>
    private string StartCluster()
    {
        var port = FreePort();
        // fsync off: a throwaway cluster trades durability for speed; correctness under concurrency
        // does not depend on it.
        RunAsPostgres(Path.Combine(binDir!, "pg_ctl"),
        [
            "-D", Path.Combine(clusterDir!, "data"), "-l", Path.Combine(clusterDir!, "log"), "-w", "-t", "60",
            "-o", $"-p {port} -k {clusterDir} -c listen_addresses=127.0.0.1 -c max_connections=500 -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            "start",
        ]);
        AdminConnectionString = $"Host=127.0.0.1;Port={port};Username=holdfast;Database=postgres;Include Error Detail=true";
        return $"{binDir}, 127.0.0.1:{port}";
    }

    private void StopAndRemoveCluster(bool stop)
    {
        if (clusterDir is null)
        {
            return;
        }

        if (stop)
        {
            RunAsPostgres(Path.Combine(binDir!, "pg_ctl"), ["-D", Path.Combine(clusterDir, "data"), "-m", "immediate", "-w", "stop"], throwOnError: false);
        }

        try
        {
            Directory.Delete(clusterDir, recursive: true);
        }
        catch (IOException)
        {
            // Leave it for the OS temp cleaner rather than fail the run.
        }

        clusterDir = null;
    }

    private static bool IsRoot => Environment.UserName == "root";

    private static void RunAsPostgres(string file, string[] args, bool throwOnError = true)
    {
        if (IsRoot)
        {
            Run("runuser", ["-u", "postgres", "--", file, .. args], throwOnError);
        }
        else
        {
            Run(file, args, throwOnError);
        }
    }

    private static void Run(string file, string[] args, bool throwOnError = true)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0 && throwOnError)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} exited {process.ExitCode}: {stderr}{stdout.Result}");
        }
    }

    /// <summary>A loopback port free right now, for a server a test starts.</summary>
    internal static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task Execute(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}

using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Holdfast.Infrastructure.Database;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;

[assembly: AssemblyFixture(typeof(Holdfast.Tests.Infrastructure.PostgresServer))]

namespace Holdfast.Tests.Infrastructure;

/// <summary>
/// One PostgreSQL for the whole test run (GUIDE §6): the server named by HOLDFAST_TEST_DATABASE_URL,
/// or a throwaway cluster started here with initdb + pg_ctl in a temp folder on a free port (as the
/// postgres user when running as root) and removed at the end. Migrations run once into a template
/// database; each test class gets its own copy with CREATE DATABASE ... TEMPLATE.
/// </summary>
public sealed class PostgresServer : IAsyncLifetime
{
    private const string TemplateName = "holdfast_template";
    private string? clusterDir;
    private string? binDir;
    private int databaseCounter;

    private static PostgresServer? instance;

    /// <summary>The run's server, for class fixtures (set once the assembly fixture is initialized).</summary>
    public static PostgresServer Instance => instance ?? throw new InvalidOperationException("PostgresServer not initialized.");

    /// <summary>Connection string of the server's maintenance database.</summary>
    public string AdminConnectionString { get; private set; } = "";

    public async ValueTask InitializeAsync()
    {
        // Race tests park dozens of threads on a barrier; do not wait for the pool to grow slowly.
        ThreadPool.SetMinThreads(256, 256);
        var external = Environment.GetEnvironmentVariable("HOLDFAST_TEST_DATABASE_URL");
        if (!string.IsNullOrEmpty(external))
        {
            AdminConnectionString = external;
        }
        else
        {
            StartThrowawayCluster();
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

    public ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        if (clusterDir is not null)
        {
            RunAsPostgres(Path.Combine(binDir!, "pg_ctl"), ["-D", Path.Combine(clusterDir, "data"), "-m", "immediate", "-w", "stop"], throwOnError: false);
            try
            {
                Directory.Delete(clusterDir, recursive: true);
            }
            catch (IOException)
            {
                // Leave it for the OS temp cleaner rather than fail the run.
            }
        }

        return ValueTask.CompletedTask;
    }

    private void StartThrowawayCluster()
    {
        binDir = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql").Select(d => Path.Combine(d, "bin"))
                .Where(d => File.Exists(Path.Combine(d, "initdb"))).OrderBy(d => d, StringComparer.Ordinal).LastOrDefault()
            : null;
        if (binDir is null)
        {
            // Fail loudly: a run without a database must not pass (scripts/test.sh installs PostgreSQL).
            throw new InvalidOperationException(
                "No PostgreSQL found: set HOLDFAST_TEST_DATABASE_URL or install PostgreSQL (scripts/test.sh does: apt-get install postgresql).");
        }

        clusterDir = Directory.CreateTempSubdirectory("holdfast-test-pg-").FullName;
        var port = FreePort();
        if (IsRoot)
        {
            Run("chown", ["postgres", clusterDir]);
        }

        var data = Path.Combine(clusterDir, "data");
        RunAsPostgres(Path.Combine(binDir, "initdb"), ["-D", data, "-U", "holdfast", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"]);
        // fsync off: a throwaway cluster trades durability for speed; correctness under concurrency
        // does not depend on it.
        RunAsPostgres(Path.Combine(binDir, "pg_ctl"),
        [
            "-D", data, "-l", Path.Combine(clusterDir, "log"), "-w", "-t", "60",
            "-o", $"-p {port} -k {clusterDir} -c listen_addresses=127.0.0.1 -c max_connections=500 -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            "start",
        ]);
        AdminConnectionString = $"Host=127.0.0.1;Port={port};Username=holdfast;Database=postgres;Include Error Detail=true";
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

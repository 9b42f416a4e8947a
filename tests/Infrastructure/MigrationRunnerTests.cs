using System.Diagnostics;
using Holdfast.Infrastructure.Database;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Holdfast.Tests.Infrastructure;

public sealed class MigrationRunnerTests
{
    private static readonly string[] Scripts = Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "db", "migrations"), "*.sql")
        .Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;

    [Fact]
    public async Task Two_app_processes_migrating_at_once_apply_each_script_once()
    {
        var connectionString = await PostgresServer.Instance.CreateDatabaseAsync(migrated: false);

        var outputs = await Task.WhenAll(StartMigrate(connectionString), StartMigrate(connectionString));

        Assert.All(outputs, o => Assert.True(o.ExitCode == 0, o.Output));
        // One process applied everything, the other waited on the advisory lock and found nothing to do.
        Assert.Single(outputs, o => o.Output.Contains($"Applied {Scripts.Length} migration(s)", StringComparison.Ordinal));
        Assert.Single(outputs, o => o.Output.Contains("Database is up to date.", StringComparison.Ordinal));
        await using var db = NpgsqlDataSource.Create(connectionString);
        await using var command = db.CreateCommand("select scriptname, count(*) from schemaversions group by scriptname order by scriptname");
        var journal = new List<(string, long)>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            journal.Add((reader.GetString(0), reader.GetInt64(1)));
        }

        Assert.Equal(Scripts.Select(s => (s, 1L)), journal);
    }

    [Fact]
    public async Task Many_runners_racing_in_one_process_apply_each_script_once()
    {
        var connectionString = await PostgresServer.Instance.CreateDatabaseAsync(migrated: false);
        await using var db = NpgsqlDataSource.Create(connectionString);
        var runner = new MigrationRunner(db, Options.Create(new DatabaseOptions()), NullLogger<MigrationRunner>.Instance);

        var reports = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => Task.Run(() => runner.MigrateAsync(dryRun: false, CancellationToken.None))));

        Assert.Equal(Scripts, reports.SelectMany(r => r.Applied).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Dry_run_lists_pending_scripts_and_applies_nothing()
    {
        var connectionString = await PostgresServer.Instance.CreateDatabaseAsync(migrated: false);
        await using var db = NpgsqlDataSource.Create(connectionString);
        var runner = new MigrationRunner(db, Options.Create(new DatabaseOptions()), NullLogger<MigrationRunner>.Instance);

        var report = await runner.MigrateAsync(dryRun: true, CancellationToken.None);

        Assert.Equal(Scripts, report.Pending);
        Assert.Empty(report.Applied);
        await using var command = db.CreateCommand("select count(*) from schemaversions");
        Assert.Equal(0L, (long)(await command.ExecuteScalarAsync())!);
        await using var tables = db.CreateCommand("select to_regclass('show_seat') is null");
        Assert.True((bool)(await tables.ExecuteScalarAsync())!);
    }

    [Fact]
    public async Task An_edited_applied_script_is_refused_with_a_clear_message()
    {
        var folder = Directory.CreateTempSubdirectory("holdfast-migrations-").FullName;
        try
        {
            await File.WriteAllTextAsync(Path.Combine(folder, "0001_first.sql"), "create table first_table (id int);");
            await File.WriteAllTextAsync(Path.Combine(folder, "0002_second.sql"), "create table second_table (id int);");
            var connectionString = await PostgresServer.Instance.CreateDatabaseAsync(migrated: false);
            await using var db = NpgsqlDataSource.Create(connectionString);
            var runner = new MigrationRunner(db, Options.Create(new DatabaseOptions { MigrationsPath = folder }), NullLogger<MigrationRunner>.Instance);
            await runner.MigrateAsync(dryRun: false, CancellationToken.None);

            await File.WriteAllTextAsync(Path.Combine(folder, "0002_second.sql"), "create table second_table (id bigint);");
            await File.WriteAllTextAsync(Path.Combine(folder, "0003_third.sql"), "create table third_table (id int);");
            var error = await Assert.ThrowsAsync<MigrationException>(() => runner.MigrateAsync(dryRun: false, CancellationToken.None));

            Assert.Contains("0002_second.sql", error.Message, StringComparison.Ordinal);
            Assert.Contains("new, higher-numbered script", error.Message, StringComparison.Ordinal);
            await using var command = db.CreateCommand("select to_regclass('third_table') is null");
            Assert.True((bool)(await command.ExecuteScalarAsync())!, "nothing is applied after an edited script is found");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task A_failing_script_rolls_back_alone_and_is_not_journaled()
    {
        var folder = Directory.CreateTempSubdirectory("holdfast-migrations-").FullName;
        try
        {
            await File.WriteAllTextAsync(Path.Combine(folder, "0001_ok.sql"), "create table ok_table (id int);");
            await File.WriteAllTextAsync(Path.Combine(folder, "0002_broken.sql"), "create table half_table (id int); select 1/0;");
            var connectionString = await PostgresServer.Instance.CreateDatabaseAsync(migrated: false);
            await using var db = NpgsqlDataSource.Create(connectionString);
            var runner = new MigrationRunner(db, Options.Create(new DatabaseOptions { MigrationsPath = folder }), NullLogger<MigrationRunner>.Instance);

            await Assert.ThrowsAsync<PostgresException>(() => runner.MigrateAsync(dryRun: false, CancellationToken.None));

            await using var command = db.CreateCommand("select to_regclass('ok_table') is not null and to_regclass('half_table') is null, (select array_agg(scriptname::text) from schemaversions)");
            await using var reader = await command.ExecuteReaderAsync();
            await reader.ReadAsync();
            Assert.True(reader.GetBoolean(0));
            Assert.Equal(["0001_ok.sql"], reader.GetFieldValue<string[]>(1));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static async Task<(int ExitCode, string Output)> StartMigrate(string connectionString)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Holdfast.dll"));
        start.ArgumentList.Add("migrate");
        start.Environment["ConnectionStrings__Holdfast"] = connectionString;
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        return (process.ExitCode, await stdout + await stderr);
    }
}

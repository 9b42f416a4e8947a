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
    public async Task Dry_run_lists_pending_scripts_and_writes_nothing()
    {
        var connectionString = await PostgresServer.Instance.CreateDatabaseAsync(migrated: false);
        await using var db = NpgsqlDataSource.Create(connectionString);
        var runner = new MigrationRunner(db, Options.Create(new DatabaseOptions()), NullLogger<MigrationRunner>.Instance);

        var report = await runner.MigrateAsync(dryRun: true, CancellationToken.None);

        Assert.Equal(Scripts, report.Pending);
        Assert.Empty(report.Applied);
        // Not even the journal tables: a dry run against production changes nothing.
        Assert.True(await db.ScalarAsync<bool>(
            "select to_regclass('show_seat') is null and to_regclass('schemaversions') is null and to_regclass('schemaversions_checksum') is null"));
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
            Assert.True(await db.ScalarAsync<bool>("select to_regclass('third_table') is null"), "nothing is applied after an edited script is found");
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

    [Fact]
    public async Task A_database_migrated_by_the_old_runner_is_carried_on_without_a_manual_step()
    {
        var folder = Directory.CreateTempSubdirectory("holdfast-migrations-").FullName;
        try
        {
            // Checked out on Windows: CRLF on disk. The old runner hashed the LF-normalised text.
            await File.WriteAllTextAsync(Path.Combine(folder, "0001_first.sql"), "create table first_table (id int);\r\n-- applied by the old runner\r\n");
            const string OldChecksum = "563d8c858443f780c9b167235dddc0f32d6757954a89db3d0ff537e21a747697"; // sha256sum of the LF text
            var connectionString = await PostgresServer.Instance.CreateDatabaseAsync(migrated: false);
            await using var db = NpgsqlDataSource.Create(connectionString);
            // What the old runner (before DbUp) left behind: its journal tables, a row in each, and the script's effect.
            await using (var old = db.CreateCommand(OldRunnerJournalSql))
            {
                old.Parameters.AddWithValue("checksum", OldChecksum);
                await old.ExecuteNonQueryAsync();
            }

            await File.WriteAllTextAsync(Path.Combine(folder, "0002_second.sql"), "create table second_table (id int);\n");
            var runner = new MigrationRunner(db, Options.Create(new DatabaseOptions { MigrationsPath = folder }), NullLogger<MigrationRunner>.Instance);

            var report = await runner.MigrateAsync(dryRun: false, CancellationToken.None);
            var again = await runner.MigrateAsync(dryRun: false, CancellationToken.None);

            Assert.Equal(["0002_second.sql"], report.Applied);
            Assert.Empty(again.Pending);
            await using var command = db.CreateCommand("""
                select v.scriptname::text, c.sha256::text
                from schemaversions v join schemaversions_checksum c using (scriptname)
                order by v.schemaversionsid
                """);
            var journal = new List<(string, string)>();
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                journal.Add((reader.GetString(0), reader.GetString(1)));
            }

            Assert.Equal([("0001_first.sql", OldChecksum), ("0002_second.sql", "899b958f69e04f9d98001383ce81a6e5e17590ea5948ce15df2d411a14ff581c")], journal);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task Applied_is_written_in_utc_whatever_the_time_zone_of_the_process_or_the_session()
    {
        var connectionString = await PostgresServer.Instance.CreateDatabaseAsync(migrated: false);
        // UTC+14 for the .NET process (TZ) and for the database session (Npgsql's Timezone setting).
        const string Zone = "Pacific/Kiritimati";
        var session = new NpgsqlConnectionStringBuilder(connectionString) { Timezone = Zone }.ConnectionString;

        var output = await StartMigrate(session, new Dictionary<string, string> { ["TZ"] = Zone });

        Assert.True(output.ExitCode == 0, output.Output);
        await using var db = NpgsqlDataSource.Create(connectionString);
        await using var command = db.CreateCommand("""
            select format_type(a.atttypid, a.atttypmod),
                   (select max(abs(extract(epoch from (now() at time zone 'utc') - applied))) from schemaversions)
            from pg_attribute a where a.attrelid = 'schemaversions'::regclass and a.attname = 'applied'
            """);
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        Assert.Equal("timestamp without time zone", reader.GetString(0));
        var secondsOff = reader.GetDecimal(1);
        Assert.True(secondsOff < 600, $"applied is {secondsOff} s away from UTC now");
    }

    [Fact]
    public async Task A_script_and_its_journal_row_commit_together()
    {
        var folder = Directory.CreateTempSubdirectory("holdfast-migrations-").FullName;
        try
        {
            await File.WriteAllTextAsync(Path.Combine(folder, "0001_ok.sql"), "create table ok_table (id int);");
            var connectionString = await PostgresServer.Instance.CreateDatabaseAsync(migrated: false);
            await using var db = NpgsqlDataSource.Create(connectionString);
            var runner = new MigrationRunner(db, Options.Create(new DatabaseOptions { MigrationsPath = folder }), NullLogger<MigrationRunner>.Instance);
            await runner.MigrateAsync(dryRun: false, CancellationToken.None);
            // The script runs to its end; then its journal row cannot be written (a crash at that moment, say).
            await File.WriteAllTextAsync(Path.Combine(folder, "0002_unjournaled.sql"), """
                insert into ok_table (id) values (1);
                create table half_table (id int);
                create function refuse_journal() returns trigger language plpgsql as $$
                begin
                  raise exception 'journal refused';
                end $$;
                create trigger refuse_journal before insert on schemaversions for each row execute function refuse_journal();
                """);

            var error = await Assert.ThrowsAsync<PostgresException>(() => runner.MigrateAsync(dryRun: false, CancellationToken.None));

            Assert.Contains("journal refused", error.Message, StringComparison.Ordinal);
            await using var command = db.CreateCommand("""
                select to_regclass('half_table') is null, (select count(*) from ok_table),
                       (select array_agg(scriptname::text order by scriptname) from schemaversions),
                       (select array_agg(scriptname::text order by scriptname) from schemaversions_checksum)
                """);
            await using var reader = await command.ExecuteReaderAsync();
            await reader.ReadAsync();
            Assert.True(reader.GetBoolean(0), "the script's table was rolled back with its journal row");
            Assert.Equal(0L, reader.GetInt64(1));
            Assert.Equal(["0001_ok.sql"], reader.GetFieldValue<string[]>(2));
            Assert.Equal(["0001_ok.sql"], reader.GetFieldValue<string[]>(3));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    // The journal exactly as MigrationRunner wrote it before it ran on DbUp (commit 4d521c1), after
    // applying 0001_first.sql.
    private const string OldRunnerJournalSql = """
        create table if not exists schemaversions (
          schemaversionsid serial not null constraint pk_schemaversions_id primary key,
          scriptname character varying(255) not null,
          applied timestamp without time zone not null
        );
        create table if not exists schemaversions_checksum (
          scriptname character varying(255) not null constraint schemaversions_checksum_pk primary key,
          sha256 char(64) not null
        );
        create table first_table (id int);
        insert into schemaversions (scriptname, applied) values ('0001_first.sql', now() at time zone 'utc');
        insert into schemaversions_checksum (scriptname, sha256) values ('0001_first.sql', @checksum);
        """;

    private static async Task<(int ExitCode, string Output)> StartMigrate(string connectionString, IDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Holdfast.dll"));
        start.ArgumentList.Add("migrate");
        start.Environment["ConnectionStrings__Holdfast"] = connectionString;
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        return (process.ExitCode, await stdout + await stderr);
    }
}

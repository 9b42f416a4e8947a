using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Holdfast.Infrastructure.Database;

/// <summary>A script found in the migrations folder: its journal name and its text.</summary>
/// <param name="Name">File name, e.g. <c>0003_inventory.sql</c>; this is what the journal records.</param>
/// <param name="Sql">The script's text with line endings normalised to LF.</param>
public sealed record MigrationScript(string Name, string Sql)
{
    /// <summary>Lower-case hex SHA-256 of <see cref="Sql"/>; an applied script whose checksum changes is refused.</summary>
    public string Checksum { get; } = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Sql)));
}

/// <summary>What a migration run did (or, for a dry run, would do).</summary>
/// <param name="Pending">Scripts not yet in the journal, in the order they apply.</param>
/// <param name="Applied">Scripts this run applied; empty for a dry run.</param>
public sealed record MigrationReport(IReadOnlyList<string> Pending, IReadOnlyList<string> Applied);

/// <summary>Raised when the scripts on disk disagree with what the database has applied.</summary>
public sealed class MigrationException(string message) : Exception(message);

/// <summary>
/// Applies <c>db/migrations/*.sql</c> in name order, each in its own transaction, recording them in
/// DbUp's PostgreSQL journal (<c>schemaversions</c>) so a DBA can run DbUp on the same folder.
/// Adds what DbUp lacks: a session advisory lock (<see cref="AdvisoryLocks.MigrationsKeyText"/>) so
/// concurrent nodes migrate once, and a SHA-256 per applied script (<c>schemaversions_checksum</c>)
/// so an edited, already-applied script is refused instead of silently ignored.
/// </summary>
public sealed class MigrationRunner(NpgsqlDataSource dataSource, IOptions<DatabaseOptions> options, ILogger<MigrationRunner> logger)
{
    /// <summary>Reads the scripts from <see cref="DatabaseOptions.MigrationsPath"/>.</summary>
    /// <exception cref="MigrationException">The folder does not exist.</exception>
    public IReadOnlyList<MigrationScript> LoadScripts()
    {
        var path = options.Value.MigrationsPath;
        var folder = Path.IsPathRooted(path) ? path : Path.Combine(AppContext.BaseDirectory, path);
        if (!Directory.Exists(folder))
        {
            throw new MigrationException($"Migrations folder not found: {folder}");
        }

        return Directory.GetFiles(folder, "*.sql")
            .Order(StringComparer.Ordinal)
            .Select(f => new MigrationScript(Path.GetFileName(f), File.ReadAllText(f).ReplaceLineEndings("\n")))
            .ToList();
    }

    /// <summary>
    /// Applies every pending script, or with <paramref name="dryRun"/> only lists them. Waits for the
    /// migration lock if another node holds it, then re-reads the journal, so the loser applies nothing.
    /// </summary>
    /// <exception cref="MigrationException">An applied script was edited since it was applied.</exception>
    public async Task<MigrationReport> MigrateAsync(bool dryRun, CancellationToken cancellationToken)
    {
        var scripts = LoadScripts();
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await ExecuteAsync(connection, null, LockSql, cancellationToken);
        try
        {
            await ExecuteAsync(connection, null, CreateJournalSql, cancellationToken);
            var journal = await ReadJournalAsync(connection, cancellationToken);
            VerifyChecksums(scripts, journal);

            var pending = scripts.Where(s => !journal.ContainsKey(s.Name)).ToList();
            if (dryRun)
            {
                return new MigrationReport(pending.Select(s => s.Name).ToList(), []);
            }

            var applied = new List<string>();
            foreach (var script in pending)
            {
                logger.LogInformation("Applying migration {Script}", script.Name);
                await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
                await ExecuteAsync(connection, transaction, script.Sql, cancellationToken);
                await using (var record = new NpgsqlCommand(RecordSql, connection, transaction))
                {
                    record.Parameters.AddWithValue("name", script.Name);
                    record.Parameters.AddWithValue("checksum", script.Checksum);
                    await record.ExecuteNonQueryAsync(cancellationToken);
                }

                await transaction.CommitAsync(cancellationToken);
                applied.Add(script.Name);
            }

            return new MigrationReport(pending.Select(s => s.Name).ToList(), applied);
        }
        finally
        {
            await ExecuteAsync(connection, null, UnlockSql, CancellationToken.None);
        }
    }

    private static void VerifyChecksums(IReadOnlyList<MigrationScript> scripts, Dictionary<string, string?> journal)
    {
        foreach (var script in scripts)
        {
            if (journal.TryGetValue(script.Name, out var applied) && applied is not null && applied != script.Checksum)
            {
                throw new MigrationException(
                    $"Migration {script.Name} was already applied, but the file has changed since " +
                    $"(applied sha256 {applied}, file sha256 {script.Checksum}). Migrations are forward-only: " +
                    "restore the original script and put the change in a new, higher-numbered script.");
            }
        }
    }

    private static async Task<Dictionary<string, string?>> ReadJournalAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var journal = new Dictionary<string, string?>(StringComparer.Ordinal);
        await using var command = new NpgsqlCommand(ReadJournalSql, connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            journal[reader.GetString(0)] = reader.IsDBNull(1) ? null : reader.GetString(1);
        }

        return journal;
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        command.CommandTimeout = 0;
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private const string LockSql = "select pg_advisory_lock(hashtextextended('holdfast:migrations', 0))";
    private const string UnlockSql = "select pg_advisory_unlock(hashtextextended('holdfast:migrations', 0))";

    // schemaversions is DbUp's PostgreSQL journal, column for column; the checksum table is ours.
    private const string CreateJournalSql = """
        create table if not exists schemaversions (
          schemaversionsid serial not null constraint pk_schemaversions_id primary key,
          scriptname character varying(255) not null,
          applied timestamp without time zone not null
        );
        create table if not exists schemaversions_checksum (
          scriptname character varying(255) not null constraint schemaversions_checksum_pk primary key,
          sha256 char(64) not null
        );
        """;

    private const string ReadJournalSql = """
        select v.scriptname, c.sha256
        from schemaversions v
        left join schemaversions_checksum c on c.scriptname = v.scriptname
        """;

    private const string RecordSql = """
        insert into schemaversions (scriptname, applied) values (@name, now() at time zone 'utc');
        insert into schemaversions_checksum (scriptname, sha256) values (@name, @checksum)
        on conflict (scriptname) do update set sha256 = excluded.sha256;
        """;
}

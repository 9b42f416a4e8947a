using System.Data;
using System.Globalization;
using System.Runtime.ExceptionServices;
using System.Security.Cryptography;
using System.Text;
using DbUp;
using DbUp.Engine;
using DbUp.Engine.Output;
using DbUp.Engine.Transactions;
using DbUp.Postgresql;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Holdfast.Infrastructure.Database;

/// <summary>A script found in the migrations folder: its journal name and its text.</summary>
/// <param name="Name">File name, e.g. <c>0003_inventory.sql</c>; this is what the journal records.</param>
/// <param name="Sql">The script's text with line endings normalised to LF.</param>
public sealed record MigrationScript(string Name, string Sql)
{
    /// <summary>Lower-case hex SHA-256 of <see cref="Sql"/>; an applied script whose checksum changes is refused.</summary>
    public string Checksum { get; } = ChecksumOf(Sql);

    /// <summary>Lower-case hex SHA-256 of the UTF-8 bytes of <paramref name="sql"/> (already LF-normalised).</summary>
    public static string ChecksumOf(string sql) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(sql)));
}

/// <summary>What a migration run did (or, for a dry run, would do).</summary>
/// <param name="Pending">Scripts not yet in the journal, in the order they apply.</param>
/// <param name="Applied">Scripts this run applied; empty for a dry run.</param>
public sealed record MigrationReport(IReadOnlyList<string> Pending, IReadOnlyList<string> Applied);

/// <summary>Raised when the scripts on disk disagree with what the database has applied.</summary>
public sealed class MigrationException(string message) : Exception(message);

/// <summary>
/// Applies <c>db/migrations/*.sql</c> with DbUp (dbup-postgresql): in ordinal name order, each
/// script and its journal row in one transaction, journaled in DbUp's <c>schemaversions</c> table so
/// a DBA can run DbUp's own tooling on the same folder. Adds what DbUp lacks: a session advisory lock
/// (<see cref="AdvisoryLocks.MigrationsKeyText"/>) so concurrent nodes migrate once, a SHA-256 per
/// applied script (<c>schemaversions_checksum</c>) so an edited, already-applied script is refused
/// instead of silently ignored, a dry run, and <c>applied</c> written in UTC by the server.
/// See docs/decisions/0011-dbup.md.
/// </summary>
public sealed class MigrationRunner(NpgsqlDataSource dataSource, IOptions<DatabaseOptions> options, ILogger<MigrationRunner> logger)
{
    /// <summary>Reads the scripts from <see cref="DatabaseOptions.MigrationsPath"/>, line endings normalised to LF.</summary>
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
    /// Applies every pending script, or with <paramref name="dryRun"/> only lists them (and writes
    /// nothing, not even the journal tables). Waits for the migration lock if another node holds it,
    /// then reads the journal, so the later node applies nothing. DbUp is synchronous:
    /// <paramref name="cancellationToken"/> stops the wait for the lock, not a script under way.
    /// </summary>
    /// <exception cref="MigrationException">An applied script was edited since it was applied.</exception>
    /// <exception cref="PostgresException">A script failed; it was rolled back and not journaled, and the scripts after it were not run.</exception>
    public async Task<MigrationReport> MigrateAsync(bool dryRun, CancellationToken cancellationToken)
    {
        var scripts = LoadScripts();
        var engine = DeployChanges.To
            .PostgresqlDatabase(new PostgresqlConnectionManager(dataSource))
            .WithScripts(scripts.Select(s => new SqlScript(s.Name, s.Sql)))
            .JournalTo((connectionManager, log) => new ChecksumJournal(connectionManager, log))
            .WithTransactionPerScript()
            // Our scripts are plain SQL: no $variable$ substitution (it would touch $$ bodies and regexes).
            .WithVariablesDisabled()
            // Zero = no limit, as before and as psql: an index build on a large table may outlast Npgsql's default 30 s.
            .WithExecutionTimeout(TimeSpan.Zero)
            .LogTo(new UpgradeLog(logger))
            .Build();
        engine.ScriptExecuted += (_, e) => logger.LogInformation("Applied migration {Script}", ((ScriptExecutedEventArgs)e).Script.Name);

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await ExecuteAsync(connection, LockSql, cancellationToken);
        try
        {
            var applied = engine.GetExecutedScripts().ToHashSet(StringComparer.Ordinal);
            VerifyChecksums(scripts, applied, await ReadChecksumsAsync(connection, cancellationToken));

            var pending = engine.GetScriptsToExecute().Select(s => s.Name).ToList();
            if (dryRun || pending.Count == 0)
            {
                return new MigrationReport(pending, []);
            }

            var result = engine.PerformUpgrade();
            if (!result.Successful)
            {
                ExceptionDispatchInfo.Throw(result.Error);
            }

            return new MigrationReport(pending, result.Scripts.Select(s => s.Name).ToList());
        }
        finally
        {
            await ExecuteAsync(connection, UnlockSql, CancellationToken.None);
        }
    }

    private static void VerifyChecksums(IReadOnlyList<MigrationScript> scripts, HashSet<string> applied, Dictionary<string, string> checksums)
    {
        foreach (var script in scripts)
        {
            // A script journaled without a checksum (applied by DbUp's own tooling) is not checked.
            if (applied.Contains(script.Name) && checksums.TryGetValue(script.Name, out var checksum) && checksum != script.Checksum)
            {
                throw new MigrationException(
                    $"Migration {script.Name} was already applied, but the file has changed since " +
                    $"(applied sha256 {checksum}, file sha256 {script.Checksum}). Migrations are forward-only: " +
                    "restore the original script and put the change in a new, higher-numbered script.");
            }
        }
    }

    private static async Task<Dictionary<string, string>> ReadChecksumsAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var checksums = new Dictionary<string, string>(StringComparer.Ordinal);
        await using (var exists = new NpgsqlCommand(ChecksumTableExistsSql, connection))
        {
            if (!(bool)(await exists.ExecuteScalarAsync(cancellationToken))!)
            {
                return checksums;
            }
        }

        await using var command = new NpgsqlCommand(ReadChecksumsSql, connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            checksums[reader.Get<string>("scriptname")] = reader.Get<string>("sha256");
        }

        return checksums;
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private const string LockSql = $"select pg_advisory_lock(hashtextextended('{AdvisoryLocks.MigrationsKeyText}', 0))";
    private const string UnlockSql = $"select pg_advisory_unlock(hashtextextended('{AdvisoryLocks.MigrationsKeyText}', 0))";

    // to_regclass follows search_path, as the unqualified names DbUp's journal uses do.
    private const string ChecksumTableExistsSql = "select to_regclass('schemaversions_checksum') is not null";
    private const string ReadChecksumsSql = "select scriptname, sha256 from schemaversions_checksum";

    /// <summary>
    /// DbUp's log into ours, under the runner's category: DbUp's information messages (journal checks,
    /// "Beginning database upgrade", each several times a run) at Debug, so that at Information a run
    /// reads as one "Applied migration" line per script; warnings and errors as DbUp gives them.
    /// </summary>
    private sealed class UpgradeLog(ILogger logger) : IUpgradeLog
    {
        public void LogTrace(string format, params object[] args) => Write(LogLevel.Trace, null, format, args);

        public void LogDebug(string format, params object[] args) => Write(LogLevel.Debug, null, format, args);

        public void LogInformation(string format, params object[] args) => Write(LogLevel.Debug, null, format, args);

        public void LogWarning(string format, params object[] args) => Write(LogLevel.Warning, null, format, args);

        public void LogError(string format, params object[] args) => Write(LogLevel.Error, null, format, args);

        public void LogError(Exception ex, string format, params object[] args) => Write(LogLevel.Error, ex, format, args);

        // DbUp's formats are composite formats ("{0}"), sometimes with no arguments and braces in the
        // text (an exception's ToString()): format them here, never use them as message templates.
        private void Write(LogLevel level, Exception? exception, string format, object[] args)
        {
            if (logger.IsEnabled(level))
            {
                var message = args.Length == 0 ? format : string.Format(CultureInfo.InvariantCulture, format, args);
                logger.Log(level, exception, "DbUp: {Message}", message);
            }
        }
    }

    /// <summary>
    /// DbUp's PostgreSQL journal (<c>schemaversions</c>, unqualified, created by DbUp as DbUp creates
    /// it), writing each row in the script's own transaction together with the script's checksum, and
    /// <c>applied</c> as the server's UTC time instead of DbUp's client-local <c>DateTime.Now</c>.
    /// </summary>
    private sealed class ChecksumJournal(Func<IConnectionManager> connectionManager, Func<IUpgradeLog> log)
        : PostgresqlTableJournal(connectionManager, log, schema: null, tableName: "schemaversions")
    {
        private bool checksumTableExists;

        public override void EnsureTableExistsAndIsLatestVersion(Func<IDbCommand> dbCommandFactory)
        {
            base.EnsureTableExistsAndIsLatestVersion(dbCommandFactory);
            if (!checksumTableExists)
            {
                using var command = dbCommandFactory();
                command.CommandText = CreateChecksumTableSql;
                command.ExecuteNonQuery();
                checksumTableExists = true;
            }
        }

        public override void StoreExecutedScript(SqlScript script, Func<IDbCommand> dbCommandFactory)
        {
            EnsureTableExistsAndIsLatestVersion(dbCommandFactory);
            using var command = (NpgsqlCommand)dbCommandFactory();
            command.CommandText = RecordSql;
            command.With("name", script.Name);
            // The same rule as MigrationScript.Checksum: script.Contents is the LF-normalised text we passed in.
            command.With("checksum", MigrationScript.ChecksumOf(script.Contents));
            command.ExecuteNonQuery();
        }

        // Ours, beside DbUp's journal: DbUp keeps no checksum. Created in the first script's transaction.
        private const string CreateChecksumTableSql = """
            create table if not exists schemaversions_checksum (
              scriptname character varying(255) not null constraint schemaversions_checksum_pk primary key,
              sha256 char(64) not null
            )
            """;

        // applied is timestamp without time zone (DbUp's column); UTC by the server's clock, not the client's.
        private const string RecordSql = """
            insert into schemaversions (scriptname, applied) values (@name, now() at time zone 'utc');
            insert into schemaversions_checksum (scriptname, sha256) values (@name, @checksum)
            on conflict (scriptname) do update set sha256 = excluded.sha256;
            """;
    }
}

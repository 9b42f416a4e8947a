using System.ComponentModel.DataAnnotations;
using System.Text.RegularExpressions;
using Npgsql;

namespace Holdfast.Infrastructure.Database;

/// <summary>Settings under <c>Database</c> in configuration.</summary>
public sealed class DatabaseOptions
{
    /// <summary>Apply pending migrations when the app starts (default false: a DBA runs <c>migrate</c>).</summary>
    public bool MigrateOnStartup { get; set; }

    /// <summary>Folder of numbered <c>.sql</c> scripts; relative paths resolve against the app's base directory.</summary>
    [Required]
    public string MigrationsPath { get; set; } = "db/migrations";
}

/// <summary>Registers the one <see cref="NpgsqlDataSource"/> every slice opens connections from.</summary>
public static partial class DatabaseSetup
{
    /// <summary>Name of the connection string (<c>ConnectionStrings:Holdfast</c>, env <c>ConnectionStrings__Holdfast</c>).</summary>
    public const string ConnectionStringName = "Holdfast";

    /// <summary>
    /// Adds the data source built from <c>ConnectionStrings:Holdfast</c>, the migration runner and
    /// <see cref="DatabaseOptions"/>. Throws <see cref="InvalidOperationException"/> at first use when
    /// the connection string is missing.
    /// </summary>
    public static IServiceCollection AddHoldfastDatabase(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddSettings<DatabaseOptions>("Database");
        services.AddSingleton(sp => CreateDataSource(sp.GetRequiredService<IConfiguration>(), sp.GetService<ILoggerFactory>()));
        services.AddSingleton<MigrationRunner>();
        return services;
    }

    /// <summary>
    /// Statements Npgsql keeps prepared per physical connection when the connection string does not
    /// set <c>Max Auto Prepare</c> itself; a statement is prepared on its fifth use.
    /// </summary>
    public const int DefaultMaxAutoPrepare = 256;

    /// <summary>Builds a data source from configuration; used by the web host and the CLI commands alike.</summary>
    public static NpgsqlDataSource CreateDataSource(IConfiguration configuration, ILoggerFactory? loggerFactory = null)
    {
        var connectionString = configuration.GetConnectionString(ConnectionStringName);
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            throw new InvalidOperationException(
                $"No connection string: set ConnectionStrings:{ConnectionStringName} (env ConnectionStrings__{ConnectionStringName}).");
        }

        return CreateDataSource(connectionString, loggerFactory);
    }

    /// <summary>
    /// Builds a data source on <paramref name="connectionString"/> with the project's settings
    /// (auto-prepare, no reset on close); the primary's and the read replicas' alike.
    /// </summary>
    public static NpgsqlDataSource CreateDataSource(string connectionString, ILoggerFactory? loggerFactory)
    {
        var builder = new NpgsqlDataSourceBuilder(connectionString);
        if (builder.ConnectionStringBuilder.MaxAutoPrepare == 0)
        {
            // Server-side prepared statements for the hot paths: planning the hold and release
            // statements costs more than running them (docs/decisions/0008-hot-paths.md).
            builder.ConnectionStringBuilder.MaxAutoPrepare = DefaultMaxAutoPrepare;
        }

        if (!NoResetOnCloseKey().IsMatch(connectionString))
        {
            // A pooled connection is reset when it is reused: seven statements (CLOSE ALL, UNLISTEN *,
            // pg_advisory_unlock_all(), DISCARD SEQUENCES, DISCARD TEMP, RESET ALL, SET SESSION
            // AUTHORIZATION DEFAULT) prepended to its next command, run by the server each time; a
            // booking reused a pooled connection 3.5 times (issue 17). Nothing here leaves session
            // state on a pooled connection: settings are SET LOCAL, advisory locks transaction-level
            // (the migration lock, session-level, is released in its finally), LISTEN connections
            // are held for the app's life. A connection string can still ask for the reset.
            builder.ConnectionStringBuilder.NoResetOnClose = true;
        }

        if (loggerFactory is not null)
        {
            builder.UseLoggerFactory(loggerFactory);
        }

        return builder.Build();
    }

    [GeneratedRegex(@"(^|;)\s*No\s*Reset\s*On\s*Close\s*=", RegexOptions.IgnoreCase)]
    private static partial Regex NoResetOnCloseKey();
}

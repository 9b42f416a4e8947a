using System.ComponentModel.DataAnnotations;
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
public static class DatabaseSetup
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

        var builder = new NpgsqlDataSourceBuilder(connectionString);
        if (builder.ConnectionStringBuilder.MaxAutoPrepare == 0)
        {
            // Server-side prepared statements for the hot paths: planning the hold and release
            // statements costs more than running them (docs/decisions/0008-hot-paths.md).
            builder.ConnectionStringBuilder.MaxAutoPrepare = DefaultMaxAutoPrepare;
        }

        if (loggerFactory is not null)
        {
            builder.UseLoggerFactory(loggerFactory);
        }

        return builder.Build();
    }
}

using System.CommandLine;
using Holdfast.Features.Catalogue;
using Holdfast.Features.Demo;
using Holdfast.Infrastructure.Database;

namespace Holdfast;

/// <summary>
/// The command line. With no command (or only host options such as <c>--urls</c>) the API serves;
/// <c>migrate [--dry-run]</c>, <c>seed [--days N]</c>, <c>demo-client [--base-url URL]</c> and
/// <c>grant-role --email E --role R</c> run and exit.
/// Exit codes: 0 success, 1 failure (the message says why).
/// </summary>
public static class HoldfastCommands
{
    /// <summary>Runs the command named by <c>args[0]</c>, or the web host.</summary>
    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Length == 0 || args[0] is not ("migrate" or "seed" or "demo-client" or "grant-role"))
        {
            var app = await HoldfastApp.BuildAsync(args);
            await app.RunAsync();
            return 0;
        }

        var dryRun = new Option<bool>("--dry-run") { Description = "List pending scripts without applying them." };
        var migrate = new Command("migrate", "Apply pending db/migrations scripts (what a DBA runs).") { dryRun };
        migrate.SetAction((parse, ct) => MigrateAsync(parse.GetValue(dryRun), ct));

        var days = new Option<int>("--days") { Description = "How many days of shows to schedule from today.", DefaultValueFactory = _ => 30 };
        var seed = new Command("seed", "Load the demo catalogue (idempotent: run it again to add new days).") { days };
        seed.SetAction((parse, ct) => SeedAsync(parse.GetValue(days), ct));

        var baseUrl = new Option<string>("--base-url") { Description = "The running service.", DefaultValueFactory = _ => "http://127.0.0.1:8080" };
        var origin = new Option<string>("--origin") { DefaultValueFactory = _ => "LHR" };
        var destination = new Option<string>("--destination") { DefaultValueFactory = _ => "JFK" };
        var demo = new Command("demo-client", "Register, search a real route, hold two seats, book them, print the booking.") { baseUrl, origin, destination };
        demo.SetAction((parse, ct) => DemoClient.RunAsync(new Uri(parse.GetValue(baseUrl)!), parse.GetValue(origin)!, parse.GetValue(destination)!, Console.Out, ct));

        var email = new Option<string>("--email") { Description = "The account's email.", Required = true };
        var role = new Option<string>("--role") { Description = "admin, organizer or customer.", Required = true };
        var grant = new Command("grant-role", "Set an account's role (how the first admin is made).") { email, role };
        grant.SetAction((parse, ct) => GrantRoleAsync(parse.GetValue(email)!, parse.GetValue(role)!, ct));

        var root = new RootCommand("Holdfast seat booking") { migrate, seed, demo, grant };
        try
        {
            return await root.Parse(args).InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception ex) when (ex is InvalidOperationException or Npgsql.NpgsqlException)
        {
            // A missing connection string or an unreachable database: say so, without a stack trace.
            await Console.Error.WriteLineAsync($"{args[0]}: {ex.Message}");
            return 1;
        }
    }

    private static async Task<int> MigrateAsync(bool dryRun, CancellationToken cancellationToken)
    {
        using var host = BuildCommandHost();
        try
        {
            var report = await host.Services.GetRequiredService<MigrationRunner>().MigrateAsync(dryRun, cancellationToken);
            if (dryRun)
            {
                Console.WriteLine(report.Pending.Count == 0 ? "No pending migrations." : $"Pending migrations ({report.Pending.Count}):");
                report.Pending.ToList().ForEach(name => Console.WriteLine($"  {name}"));
            }
            else
            {
                Console.WriteLine(report.Applied.Count == 0 ? "Database is up to date." : $"Applied {report.Applied.Count} migration(s):");
                report.Applied.ToList().ForEach(name => Console.WriteLine($"  {name}"));
            }

            return 0;
        }
        catch (MigrationException ex)
        {
            await Console.Error.WriteLineAsync($"migrate: {ex.Message}");
            return 1;
        }
    }

    private static async Task<int> SeedAsync(int days, CancellationToken cancellationToken)
    {
        using var host = BuildCommandHost();
        var seeder = ActivatorUtilities.CreateInstance<DemoCatalogueSeeder>(host.Services);
        var summary = await seeder.SeedAsync(days, cancellationToken);
        Console.WriteLine(summary);
        return 0;
    }

    private static async Task<int> GrantRoleAsync(string email, string role, CancellationToken cancellationToken)
    {
        if (role is not ("admin" or "organizer" or "customer"))
        {
            await Console.Error.WriteLineAsync("grant-role: --role must be admin, organizer or customer.");
            return 1;
        }

        using var host = BuildCommandHost();
        await using var command = host.Services.GetRequiredService<Npgsql.NpgsqlDataSource>().CreateCommand(
            "update app_user set role = @role where lower(email) = lower(@email)");
        command.Parameters.Add(new Npgsql.NpgsqlParameter<string>("role", role));
        command.Parameters.Add(new Npgsql.NpgsqlParameter<string>("email", email));
        if (await command.ExecuteNonQueryAsync(cancellationToken) == 0)
        {
            await Console.Error.WriteLineAsync($"grant-role: no account with email {email}.");
            return 1;
        }

        Console.WriteLine($"{email} is now {role}; access tokens with the old role are refused, so they refresh or sign in again.");
        return 0;
    }

    private static IHost BuildCommandHost()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            ContentRootPath = AppContext.BaseDirectory,
            EnvironmentName = Environment.GetEnvironmentVariable("ASPNETCORE_ENVIRONMENT")
                ?? Environment.GetEnvironmentVariable("DOTNET_ENVIRONMENT") ?? Environments.Production,
        });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddHoldfastDatabase(builder.Configuration);
        return builder.Build();
    }
}

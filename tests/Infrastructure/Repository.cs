using System.Diagnostics;

namespace Holdfast.Tests.Infrastructure;

/// <summary>The checkout the tests run from: its root, and its scripts run as a developer would.</summary>
public static class Repository
{
    private static readonly Lazy<string> RootDirectory = new(() =>
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Holdfast.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Holdfast.slnx not found above the test binaries.");
    });

    /// <summary>The folder holding Holdfast.slnx.</summary>
    public static string Root => RootDirectory.Value;

    /// <summary>Runs <c>bash scripts/<paramref name="script"/></c> from the root; its exit code and everything it printed.</summary>
    public static async Task<(int ExitCode, string Output)> RunScriptAsync(string script, params string[] args)
    {
        var info = new ProcessStartInfo("bash", [Path.Combine(Root, "scripts", script), .. args])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            WorkingDirectory = Root,
        };
        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await output + await errors);
    }
}

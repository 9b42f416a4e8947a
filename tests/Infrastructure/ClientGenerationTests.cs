using System.Diagnostics;

namespace Holdfast.Tests.Infrastructure;

/// <summary>
/// The committed typed client (clients/Holdfast.Client/Generated) is what Kiota makes of the
/// committed document today: a contract change without a regenerated client fails here. Fix with
/// <c>scripts/generate-client.sh</c>.
/// </summary>
public sealed class ClientGenerationTests
{
    [Fact]
    public async Task The_committed_client_is_generated_from_the_committed_document()
    {
        var root = RepositoryRoot();
        var output = Directory.CreateTempSubdirectory("holdfast-client-").FullName;
        try
        {
            var info = new ProcessStartInfo("bash", [Path.Combine(root, "scripts", "generate-client.sh"), output])
            {
                RedirectStandardError = true,
                RedirectStandardOutput = true,
                WorkingDirectory = root,
            };
            using var process = Process.Start(info)!;
            var errors = process.StandardError.ReadToEndAsync();
            await process.StandardOutput.ReadToEndAsync();
            await process.WaitForExitAsync();
            Assert.True(process.ExitCode == 0, $"generate-client.sh failed: {await errors}");

            var committed = Path.Combine(root, "clients", "Holdfast.Client", "Generated");
            var differences = Files(committed).Union(Files(output)).Order(StringComparer.Ordinal)
                .Where(f => !File.Exists(Path.Combine(committed, f)) || !File.Exists(Path.Combine(output, f))
                            || File.ReadAllText(Path.Combine(committed, f)) != File.ReadAllText(Path.Combine(output, f)))
                .ToList();
            Assert.True(differences.Count == 0,
                $"The committed client is stale ({differences.Count} files differ, e.g. {string.Join(", ", differences.Take(5))}): run scripts/generate-client.sh and commit.");
        }
        finally
        {
            Directory.Delete(output, recursive: true);
        }
    }

    private static IEnumerable<string> Files(string dir) =>
        Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(dir, f));

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Holdfast.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Holdfast.slnx not found above the test binaries.");
    }
}

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
        var output = Directory.CreateTempSubdirectory("holdfast-client-").FullName;
        try
        {
            var (exitCode, printed) = await Repository.RunScriptAsync("generate-client.sh", output);
            Assert.True(exitCode == 0, $"generate-client.sh failed: {printed}");

            var committed = Path.Combine(Repository.Root, "clients", "Holdfast.Client", "Generated");
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
}

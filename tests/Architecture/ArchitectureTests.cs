using System.Text.RegularExpressions;
using ArchUnitNET.Domain;
using ArchUnitNET.Fluent.Slices;
using ArchUnitNET.Loader;
using ArchUnitNET.xUnitV3;
using Holdfast.Features.Inventory;
using Holdfast.Infrastructure.Jobs;
using static ArchUnitNET.Fluent.ArchRuleDefinition;

namespace Holdfast.Tests.Architecture;

/// <summary>
/// The shape rules of docs/decisions/0019-inventory-and-typed-jobs.md, checked on the compiled app
/// (ArchUnitNET) and, for SQL, on the source text. Each test is one rule and its failure names it.
/// </summary>
public sealed partial class ArchitectureTests
{
    private static readonly ArchUnitNET.Domain.Architecture App =
        new ArchLoader().LoadAssemblies(typeof(SeatInventory).Assembly).Build();

    private static readonly string Source = Holdfast.Tests.Infrastructure.Repository.Root;

    /// <summary>Rule 1: feature folders (<c>Holdfast.Features.X</c>) depend on each other without cycles.</summary>
    /// <remarks>A cycle between feature folders means neither can be read or changed alone.</remarks>
    [Fact]
    public void Rule1_feature_folders_form_no_cycles() =>
        SliceRuleDefinition.Slices().Matching("Holdfast.Features.(*)").Should().BeFreeOfCycles().Check(App);

    /// <summary>Rule 2: Infrastructure never names a feature.</summary>
    [Fact]
    public void Rule2_infrastructure_names_no_feature() =>
        Types().That().ResideInNamespaceOrBelow("Holdfast.Infrastructure")
            .Should().NotDependOnAny(Types().That().ResideInNamespaceOrBelow("Holdfast.Features"))
            .Because("rule 2 (decision 0019): Infrastructure serves every feature and names none")
            .Check(App);

    /// <summary>Rule 3: only the inventory announces seat changes, so every announcement follows a commit.</summary>
    [Fact]
    public void Rule3_only_the_inventory_announces_seat_changes()
    {
        var offenders = SourceFiles()
            .Where(f => !f.Path.StartsWith("src/Features/Inventory/", StringComparison.Ordinal) && !f.Path.StartsWith("src/Infrastructure/SeatFeed/", StringComparison.Ordinal))
            .Where(f => AnnouncerCall().IsMatch(f.Text))
            .Select(f => f.Path)
            .ToList();
        Assert.True(offenders.Count == 0,
            "Rule 3 (decision 0019): only Features/Inventory (SeatTransaction) announces seat changes, after its commit. Announced elsewhere in: " +
            string.Join(", ", offenders));
    }

    /// <summary>Rule 4: SQL that writes seat state or inventory lives in Features/Inventory only.</summary>
    [Fact]
    public void Rule4_only_the_inventory_writes_seat_state()
    {
        var offenders = SourceFiles()
            .Where(f => !f.Path.StartsWith("src/Features/Inventory/", StringComparison.Ordinal))
            .SelectMany(f => SeatWriter().Matches(f.Text).Select(m => $"{f.Path}: \"{m.Value}\""))
            .ToList();
        Assert.True(offenders.Count == 0,
            "Rule 4 (decision 0019): show_seat, hold, hold_seat, booking_seat, seat and seat_feed are written only by Features/Inventory. Written in: " +
            string.Join("; ", offenders));
    }

    /// <summary>
    /// Rule 5: job kinds are spelled only in their args records: no slice SQL inserts into <c>job</c>
    /// or names a kind by hand; they go through <c>JobOutbox</c> and <c>JobSql</c>.
    /// </summary>
    [Fact]
    public void Rule5_job_kinds_are_named_only_by_their_args_records()
    {
        var offenders = SourceFiles()
            .Where(f => f.Path.StartsWith("src/Features/", StringComparison.Ordinal))
            .SelectMany(f => HandWrittenJob().Matches(f.Text).Select(m => $"{f.Path}: \"{m.Value}\""))
            .ToList();
        Assert.True(offenders.Count == 0,
            "Rule 5 (decision 0019): a job kind is named only by its IJobArgs record; insert and cancel jobs through JobOutbox.EnqueueAsync<TArgs> or JobSql. Found: " +
            string.Join("; ", offenders));
    }

    /// <summary>
    /// Rule 6: every job kind is listed in one folder: each <c>IJobArgs</c> record lives in
    /// <c>Holdfast.Features.Jobs</c> (src/Features/Jobs, one file per kind), or, for the engine's own
    /// plumbing (<c>jobs.prune</c>, <c>jobs.noop</c>, <c>idempotency.prune</c>), in
    /// <c>Holdfast.Infrastructure.Jobs</c> (src/Infrastructure/Jobs/JobKinds.cs). Handlers stay in
    /// their slices.
    /// </summary>
    [Fact]
    public void Rule6_every_job_kind_lives_in_the_jobs_folder() =>
        Types().That().ImplementInterface(typeof(IJobArgs))
            .Should().ResideInNamespace("Holdfast.Features.Jobs")
            .OrShould().ResideInNamespace("Holdfast.Infrastructure.Jobs")
            .Because("rule 6 (decision 0019): a maintainer lists every job kind from src/Features/Jobs (and src/Infrastructure/Jobs/JobKinds.cs for the engine's own)")
            .Check(App);

    /// <summary>Rule 6's other half: the kinds' folder names no other feature, so every slice can use it without a cycle.</summary>
    [Fact]
    public void Rule6_the_job_kinds_depend_on_no_other_feature() =>
        Types().That().ResideInNamespace("Holdfast.Features.Jobs")
            .Should().NotDependOnAny(Types().That().ResideInNamespaceOrBelow("Holdfast.Features").And().DoNotResideInNamespace("Holdfast.Features.Jobs"))
            .Because("rule 6 (decision 0019): job kinds are pure data, used by every slice and using none")
            .Check(App);

    /// <summary>The service never depends on the fake identity provider, a development and test tool (decision 0029).</summary>
    [Fact]
    public void The_service_does_not_depend_on_the_fake_identity_provider()
    {
        Assert.DoesNotContain(typeof(SeatInventory).Assembly.GetReferencedAssemblies(), a => a.Name == "FakeIdentityProvider");
        Assert.DoesNotContain("FakeIdentityProvider", File.ReadAllText(Path.Combine(Source, "src", "Holdfast.csproj")), StringComparison.Ordinal);
        Assert.DoesNotContain("FakeIdentityProvider", File.ReadAllText(Path.Combine(Source, "Dockerfile")), StringComparison.Ordinal);
    }

    [GeneratedRegex(@"announcer\.Changed\(|SeatFeedAnnouncer>\(\)\.Changed\(", RegexOptions.IgnoreCase)]
    private static partial Regex AnnouncerCall();

    [GeneratedRegex(@"\b(insert\s+into|update|delete\s+from)\s+(show_seat|hold_seat|booking_seat|seat|seat_feed|hold)\b", RegexOptions.IgnoreCase)]
    private static partial Regex SeatWriter();

    [GeneratedRegex(@"\binsert\s+into\s+job\b|\bkind\s*=\s*'[a-z_]+\.[a-z_]+'|\bunique_key\s*=\s*'[a-z_]+:'", RegexOptions.IgnoreCase)]
    private static partial Regex HandWrittenJob();

    private static IEnumerable<(string Path, string Text)> SourceFiles() =>
        Directory.EnumerateFiles(Path.Combine(Source, "src"), "*.cs", SearchOption.AllDirectories)
            .Select(p => Path.GetRelativePath(Source, p).Replace('\\', '/'))
            .Where(p => !p.StartsWith("src/bin/", StringComparison.Ordinal) && !p.StartsWith("src/obj/", StringComparison.Ordinal))
            .Select(p => (p, File.ReadAllText(Path.Combine(Source, p))));
}

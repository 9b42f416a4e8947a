namespace Holdfast.Tests.Infrastructure;

/// <summary>How the run chose its PostgreSQL (decision 0015).</summary>
public sealed class PostgresServerTests
{
    [Fact]
    public async Task Without_a_Docker_engine_the_run_uses_the_local_binaries_and_says_why_once()
    {
        var server = PostgresServer.Instance;
        Assert.SkipWhen(server.Source == TestDatabaseSource.DatabaseUrl, "HOLDFAST_TEST_DATABASE_URL is set, so Docker is not asked.");
        var (container, unavailable) = PostgresServer.ProbeDocker();
        if (container is not null)
        {
            await container.DisposeAsync();
            Assert.Skip("A Docker engine answers here, so the fallback is not taken.");
        }

        Assert.Equal(TestDatabaseSource.LocalBinaries, server.Source);
        Assert.StartsWith("no Docker engine: DockerUnavailableException (", unavailable, StringComparison.Ordinal);
        Assert.Contains($"because {unavailable}", server.Choice, StringComparison.Ordinal);
        Assert.Equal(1, PostgresServer.Announcements);
    }

    // CI has no Docker engine: asking for one runs beside initdb and must not hold the start up by a second.
    [Fact]
    public void Asking_for_a_Docker_engine_delays_the_local_start_by_under_a_second()
    {
        var server = PostgresServer.Instance;
        Assert.SkipUnless(server.Source == TestDatabaseSource.LocalBinaries, "Only the local path waits on the probe.");
        Assert.True(server.DockerProbeTime > TimeSpan.Zero);
        Assert.InRange(server.DockerProbeDelay, TimeSpan.Zero, TimeSpan.FromSeconds(1));
    }
}

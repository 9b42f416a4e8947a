namespace Holdfast.Tests.Infrastructure;

/// <summary>How the run chose its PostgreSQL (decision 0015). Each path asserts what it should; none is skipped.</summary>
public sealed class PostgresServerTests
{
    [Fact]
    public async Task The_run_uses_the_database_url_else_a_container_else_the_local_binaries_and_says_why_once()
    {
        var server = PostgresServer.Instance;
        Assert.Equal(1, PostgresServer.Announcements);
        if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable("HOLDFAST_TEST_DATABASE_URL")))
        {
            Assert.Equal(TestDatabaseSource.DatabaseUrl, server.Source);
            return;
        }

        var (container, unavailable) = PostgresServer.ProbeDocker();
        if (container is not null)
        {
            await container.DisposeAsync();
            Assert.Equal(TestDatabaseSource.Container, server.Source);
            return;
        }

        Assert.Equal(TestDatabaseSource.LocalBinaries, server.Source);
        Assert.StartsWith("no Docker engine: DockerUnavailableException (", unavailable, StringComparison.Ordinal);
        Assert.Contains($"because {unavailable}", server.Choice, StringComparison.Ordinal);
    }

    // CI has no Docker engine: asking for one runs beside initdb and must not hold the start up by a second.
    [Fact]
    public void Asking_for_a_Docker_engine_delays_the_start_by_under_a_second()
    {
        var server = PostgresServer.Instance;
        if (server.Source == TestDatabaseSource.DatabaseUrl)
        {
            Assert.Equal(TimeSpan.Zero, server.DockerProbeTime); // not asked at all
            return;
        }

        Assert.True(server.DockerProbeTime > TimeSpan.Zero);
        Assert.InRange(server.DockerProbeDelay, TimeSpan.Zero, TimeSpan.FromSeconds(1));
    }
}

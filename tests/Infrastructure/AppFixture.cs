namespace Holdfast.Tests.Infrastructure;

/// <summary>One app and database per test class (xunit creates a class instance per test, so state lives here).</summary>
public class AppFixture : IAsyncLifetime
{
    private TestApp? app;

    public TestApp App => app ?? throw new InvalidOperationException("Fixture not started.");

    /// <summary>Configuration overrides for this fixture's app.</summary>
    protected virtual IDictionary<string, string?> Settings => new Dictionary<string, string?>();

    /// <summary>True to run this fixture's app on a real loopback port (<see cref="TestApp.Address"/>), for a browser or another process.</summary>
    protected virtual bool OnLoopbackPort => false;

    /// <summary>With <see cref="OnLoopbackPort"/>: the port, when the settings must name the app's address (0: any free port).</summary>
    protected virtual int LoopbackPort => 0;

    public virtual async ValueTask InitializeAsync() => app = await TestApp.StartAsync(PostgresServer.Instance, Settings, onLoopbackPort: OnLoopbackPort, port: LoopbackPort);

    public virtual async ValueTask DisposeAsync()
    {
        if (app is not null)
        {
            await app.DisposeAsync();
        }

        GC.SuppressFinalize(this);
    }
}

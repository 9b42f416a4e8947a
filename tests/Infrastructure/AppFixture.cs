namespace Holdfast.Tests.Infrastructure;

/// <summary>One app and database per test class (xunit creates a class instance per test, so state lives here).</summary>
public class AppFixture : IAsyncLifetime
{
    private TestApp? app;

    public TestApp App => app ?? throw new InvalidOperationException("Fixture not started.");

    /// <summary>Configuration overrides for this fixture's app.</summary>
    protected virtual IDictionary<string, string?> Settings => new Dictionary<string, string?>();

    public virtual async ValueTask InitializeAsync() => app = await TestApp.StartAsync(PostgresServer.Instance, Settings);

    public virtual async ValueTask DisposeAsync()
    {
        if (app is not null)
        {
            await app.DisposeAsync();
        }

        GC.SuppressFinalize(this);
    }
}

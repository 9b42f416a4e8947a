namespace Holdfast.Tests.Infrastructure;

/// <summary>Waits on a condition that another process (the job worker) makes true, with a deadline.</summary>
public static class Eventually
{
    public static async Task<T> EqualAsync<T>(T expected, Func<Task<T>> read, TimeSpan? timeout = null, Func<string>? explain = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        T actual;
        while (!EqualityComparer<T>.Default.Equals(actual = await read(), expected) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(25);
        }

        if (explain is not null && !EqualityComparer<T>.Default.Equals(actual, expected))
        {
            Assert.Fail($"Expected {expected}, still {actual} at the deadline. {explain()}");
        }

        Assert.Equal(expected, actual);
        return actual;
    }
}

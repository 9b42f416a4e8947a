using Holdfast.Infrastructure.Caching;
using Microsoft.Extensions.Options;

namespace Holdfast.Tests.Infrastructure;

// The cache's own concurrency rules, in memory: no database is involved in these.
public sealed class ReadCacheTests
{
    private static ReadCache NewCache() =>
        new(Options.Create(new ReadCacheOptions()));

    [Fact]
    public async Task Concurrent_misses_of_one_key_share_one_build()
    {
        using var cache = NewCache();
        var release = new TaskCompletionSource();
        var builds = 0;
        var readers = Enumerable.Range(0, 50).Select(_ => cache.GetOrAddAsync("k", async _ =>
        {
            Interlocked.Increment(ref builds);
            await release.Task;
            return ("{}"u8.ToArray(), [1L]);
        }, CancellationToken.None)).ToList();
        release.SetResult();
        var answers = await Task.WhenAll(readers);

        Assert.Equal(1, builds);
        Assert.All(answers, a => Assert.Same(answers[0], a));
    }

    [Fact]
    public async Task An_invalidation_during_a_build_keeps_its_result_out_of_the_cache()
    {
        using var cache = NewCache();
        var reading = new TaskCompletionSource();
        var release = new TaskCompletionSource();
        var builds = 0;
        async Task<(byte[], IEnumerable<long>)> Build(CancellationToken _)
        {
            if (Interlocked.Increment(ref builds) == 1)
            {
                reading.SetResult();
                await release.Task;
            }

            return ("{}"u8.ToArray(), [7L]);
        }

        var first = cache.GetOrAddAsync("k", Build, CancellationToken.None);
        await reading.Task;
        cache.InvalidateShow(7);
        release.SetResult();
        await first;

        await cache.GetOrAddAsync("k", Build, CancellationToken.None);
        Assert.Equal(2, builds);
    }

    [Fact]
    public async Task A_waiter_that_gives_up_does_not_cancel_the_build_for_the_others()
    {
        using var cache = NewCache();
        var release = new TaskCompletionSource();
        using var impatient = new CancellationTokenSource();
        var patient = cache.GetOrAddAsync("k", async ct =>
        {
            await release.Task.WaitAsync(ct);
            return ("{\"a\":1}"u8.ToArray(), [1L]);
        }, CancellationToken.None);
        var gaveUp = cache.GetOrAddAsync("k", _ => throw new InvalidOperationException("second build"), impatient.Token);
        await impatient.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => gaveUp);
        release.SetResult();

        Assert.Equal("{\"a\":1}"u8.ToArray(), (await patient).Body);
    }
}

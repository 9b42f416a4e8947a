using System.Net;
using System.Net.Http.Json;
using Holdfast.Tests.Infrastructure;

namespace Holdfast.Tests.Features.Accounts;

public sealed class LoginBackoffTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    private TestApp App => fixture.App;

    [Fact]
    public async Task Repeated_failures_lock_an_email_known_or_not_and_success_resets()
    {
        using var client = App.CreateClient();
        var email = $"l{Guid.NewGuid():N}@example.com";
        var unknown = $"u{Guid.NewGuid():N}@example.com";
        await client.PostAsJsonAsync("/auth/register", new { email, password = "the right password" }).ExpectAsync(HttpStatusCode.Created);

        foreach (var who in new[] { email, unknown })
        {
            for (var i = 0; i < 4; i++)
            {
                await client.PostAsJsonAsync("/auth/login", new { email = who, password = "wrong guess" }).ExpectAsync(HttpStatusCode.Unauthorized);
            }

            // The fifth failure locks (for 1 s: stretched here so a slow machine cannot outrun it);
            // now even the right password waits, and both emails read alike.
            await client.PostAsJsonAsync("/auth/login", new { email = who, password = "wrong guess" }).ExpectAsync(HttpStatusCode.Unauthorized);
            Assert.Equal(1L, await App.DataSource.ScalarAsync<long>(
                "with locked as (update login_throttle set locked_until = now() + interval '1 minute' where email_key = $1 and locked_until is not null returning 1) select count(*) from locked",
                who));
            using var locked = await client.PostAsJsonAsync("/auth/login", new { email = who.ToUpperInvariant(), password = "the right password" });
            Assert.Equal(HttpStatusCode.TooManyRequests, locked.StatusCode);
            Assert.True(locked.Headers.Contains("Retry-After"));
        }

        // Once the lock has passed, the right password logs in and clears the count.
        await using (var command = App.DataSource.CreateCommand($"update login_throttle set locked_until = now() - interval '1 second' where email_key = '{email}'"))
        {
            await command.ExecuteNonQueryAsync();
        }

        await client.PostAsJsonAsync("/auth/login", new { email, password = "the right password" }).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(0L, await App.DataSource.ScalarAsync<long>("select count(*) from login_throttle where email_key = $1", email));
    }
}

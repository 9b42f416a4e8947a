using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;

namespace Holdfast.Tests.Infrastructure;

public sealed class StartupTests
{
    [Fact]
    public void Outside_Development_the_app_refuses_to_start_without_a_signing_key()
    {
        using var factory = new WebApplicationFactory<Program>().WithWebHostBuilder(builder =>
        {
            builder.UseEnvironment("Production");
            builder.UseSetting("ConnectionStrings:Holdfast", PostgresServer.Instance.AdminConnectionString);
            builder.UseSetting("Jobs:Enabled", "false");
        });

        var error = Assert.ThrowsAny<Exception>(() => factory.CreateClient());

        Assert.Contains("Auth:SigningKey is required", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_signing_key_shorter_than_32_bytes_is_refused()
    {
        using var factory = new WebApplicationFactory<Program>().WithWebHostBuilder(builder =>
        {
            builder.UseEnvironment("Production");
            builder.UseSetting("ConnectionStrings:Holdfast", PostgresServer.Instance.AdminConnectionString);
            builder.UseSetting("Auth:SigningKey", "too-short");
            builder.UseSetting("Jobs:Enabled", "false");
        });

        var error = Assert.ThrowsAny<Exception>(() => factory.CreateClient());

        Assert.Contains("at least 32 bytes", error.ToString(), StringComparison.Ordinal);
    }
}

using System.Diagnostics;

namespace Holdfast.Tests.Infrastructure;

/// <summary>Starts the real app as a process, as an operator would, and checks it refuses bad settings.</summary>
public sealed class StartupTests
{
    [Theory]
    [InlineData(null, "Auth:SigningKey is required")]
    [InlineData("too-short", "at least 32 bytes")]
    [InlineData("holdfast-development-signing-key-not-for-production-use", "development key")]
    public async Task Outside_Development_the_app_refuses_to_start_without_a_proper_signing_key(string? key, string message)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Holdfast.dll"));
        start.ArgumentList.Add("--urls");
        start.ArgumentList.Add("http://127.0.0.1:0");
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        start.Environment["ConnectionStrings__Holdfast"] = PostgresServer.Instance.AdminConnectionString;
        start.Environment["Jobs__Enabled"] = "false";
        if (key is not null)
        {
            start.Environment["Auth__SigningKey"] = key;
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }

        var output = await stdout + await stderr;
        Assert.NotEqual(0, process.ExitCode);
        Assert.Contains(message, output, StringComparison.Ordinal);
    }
}

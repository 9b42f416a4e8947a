using System.Diagnostics;

namespace Holdfast.Tests.Infrastructure;

/// <summary>The app as its own process (<c>dotnet Holdfast.dll</c>) on a local port, on a test database: a node that can be killed or signalled.</summary>
public static class NodeProcess
{
    /// <summary>Starts a node with the test settings, <paramref name="overrides"/> on top; its output is read and dropped.</summary>
    public static Process Start(string connectionString, int port, IDictionary<string, string?>? overrides = null)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Holdfast.dll"));
        start.ArgumentList.Add("--urls");
        start.ArgumentList.Add($"http://127.0.0.1:{port}");
        var settings = TestApp.DefaultSettings();
        settings["ConnectionStrings:Holdfast"] = connectionString;
        foreach (var (key, value) in overrides ?? new Dictionary<string, string?>())
        {
            settings[key] = value;
        }

        foreach (var (key, value) in settings)
        {
            start.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }

        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Development";
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>Waits until the node answers HTTP (at most a minute).</summary>
    public static async Task WaitReadyAsync(HttpClient client, Process process)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            Assert.False(process.HasExited, "the node exited at start");
            try
            {
                using var response = await client.GetAsync("/openapi/v1.json");
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            Assert.True(DateTime.UtcNow < deadline, "the node did not start");
            await Task.Delay(100);
        }
    }

    /// <summary>Sends SIGTERM, as docker stop or Kubernetes does (<see cref="Process.Kill()"/> is SIGKILL).</summary>
    public static void Terminate(Process process)
    {
        using var kill = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
        Assert.Equal(0, kill.ExitCode);
    }
}

using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Holdfast.Tests.Infrastructure;

/// <summary>
/// A real SMTP server (Debian's python3-aiosmtpd, RFC 5321) on a free loopback port, storing what
/// it receives in a maildir, so tests check mail as delivered rather than as handed to a client.
/// </summary>
public sealed class SmtpServer : IAsyncLifetime
{
    private Process? process;
    private string? folder;

    public int Port { get; private set; }

    public async ValueTask InitializeAsync()
    {
        const string python = "/usr/bin/python3";
        folder = Directory.CreateTempSubdirectory("holdfast-smtp-").FullName;
        Port = PostgresServer.FreePort();

        var start = new ProcessStartInfo(python) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var arg in new[] { "-m", "aiosmtpd", "-n", "-l", $"127.0.0.1:{Port}", "-c", "aiosmtpd.handlers.Mailbox", Path.Combine(folder, "maildir") })
        {
            start.ArgumentList.Add(arg);
        }

        process = Process.Start(start) ?? throw new InvalidOperationException("Could not start aiosmtpd (scripts/test.sh installs python3-aiosmtpd).");
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, Port);
                return;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline && !process.HasExited)
            {
                await Task.Delay(50);
            }
            catch (SocketException)
            {
                throw new InvalidOperationException($"aiosmtpd did not start: {await process.StandardError.ReadToEndAsync()}");
            }
        }
    }

    /// <summary>Raw RFC 5322 messages received so far.</summary>
    public IReadOnlyList<string> Messages()
    {
        var dir = Path.Combine(folder!, "maildir", "new");
        return Directory.Exists(dir) ? Directory.GetFiles(dir).Select(File.ReadAllText).ToList() : [];
    }

    /// <summary>Waits until a message to <paramref name="to"/> whose subject contains <paramref name="subject"/> arrives.</summary>
    public async Task<string> WaitForAsync(string to, string subject, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(20));
        while (true)
        {
            var found = Messages().FirstOrDefault(m => m.Contains(to, StringComparison.OrdinalIgnoreCase) && Decode(m).Contains(subject, StringComparison.Ordinal));
            if (found is not null)
            {
                return found;
            }

            Assert.True(DateTime.UtcNow < deadline, $"No mail to {to} about '{subject}' arrived; got {Messages().Count} others.");
            await Task.Delay(50);
        }
    }

    /// <summary>The message with its base64 parts and RFC 2047 subject decoded, good enough for assertions.</summary>
    public static string Decode(string raw)
    {
        var text = new System.Text.StringBuilder(raw);
        foreach (System.Text.RegularExpressions.Match block in System.Text.RegularExpressions.Regex.Matches(raw, @"(?m)(?:^[A-Za-z0-9+/]{16,}={0,2}\r?\n)+"))
        {
            try
            {
                text.Append('\n').Append(System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(block.Value.Replace("\r", "", StringComparison.Ordinal).Replace("\n", "", StringComparison.Ordinal))));
            }
            catch (FormatException)
            {
                // A line that only looks like base64.
            }
        }

        foreach (System.Text.RegularExpressions.Match word in System.Text.RegularExpressions.Regex.Matches(raw, @"=\?utf-8\?B\?([^?]+)\?=", System.Text.RegularExpressions.RegexOptions.IgnoreCase))
        {
            text.Append('\n').Append(System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(word.Groups[1].Value)));
        }

        return text.ToString();
    }

    public ValueTask DisposeAsync()
    {
        if (process is { HasExited: false })
        {
            process.Kill(entireProcessTree: true);
        }

        process?.Dispose();
        if (folder is not null)
        {
            Directory.Delete(folder, recursive: true);
        }

        return ValueTask.CompletedTask;
    }
}

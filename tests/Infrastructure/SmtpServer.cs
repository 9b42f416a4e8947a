using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using MimeKit;

namespace Holdfast.Tests.Infrastructure;

/// <summary>
/// A real SMTP server (Debian's python3-aiosmtpd, RFC 5321) on a free loopback port, storing the
/// bytes it receives in a maildir, so tests check mail as delivered rather than as handed to a
/// client. Messages are parsed with MimeKit, so encoded (RFC 2047) and folded headers read as sent.
/// A recipient whose local part starts with <c>refuse-</c> is refused with 550, one starting with
/// <c>defer-</c> with 451.
/// </summary>
public sealed class SmtpServer : IAsyncLifetime
{
    // aiosmtpd's Mailbox handler re-serializes through Python's email package; this one stores the
    // DATA bytes untouched and answers RCPT by the address, for the refusal tests.
    private const string Handler = """
        from aiosmtpd.handlers import Mailbox

        class Refusing(Mailbox):
            async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
                local = address.split('@')[0].lower()
                if local.startswith('refuse-'):
                    return '550 5.1.1 Mailbox unavailable'
                if local.startswith('defer-'):
                    return '451 4.3.0 Mailbox busy, try again later'
                envelope.rcpt_tos.append(address)
                return '250 OK'

            async def handle_DATA(self, server, session, envelope):
                self.mailbox.add(envelope.original_content)
                return '250 OK'
        """;

    private Process? process;
    private string? folder;

    public int Port { get; private set; }

    public async ValueTask InitializeAsync()
    {
        const string python = "/usr/bin/python3";
        folder = Directory.CreateTempSubdirectory("holdfast-smtp-").FullName;
        await File.WriteAllTextAsync(Path.Combine(folder, "holdfast_smtp.py"), Handler);
        Port = PostgresServer.FreePort();

        var start = new ProcessStartInfo(python) { RedirectStandardError = true, RedirectStandardOutput = true };
        start.Environment["PYTHONPATH"] = folder;
        foreach (var arg in new[] { "-m", "aiosmtpd", "-n", "-l", $"127.0.0.1:{Port}", "-c", "holdfast_smtp.Refusing", Path.Combine(folder, "maildir") })
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

    /// <summary>The raw RFC 5322 files received so far (the maildir's <c>new</c> folder).</summary>
    public IReadOnlyList<string> Files()
    {
        var dir = Path.Combine(folder!, "maildir", "new");
        return Directory.Exists(dir) ? Directory.GetFiles(dir) : [];
    }

    /// <summary>Messages received so far, parsed by MimeKit.</summary>
    public IReadOnlyList<MimeMessage> Messages() => Files().Select(f => MimeMessage.Load(f)).ToList();

    /// <summary>Waits until a message to <paramref name="to"/> whose decoded subject contains <paramref name="subject"/> arrives.</summary>
    public async Task<MimeMessage> WaitForAsync(string to, string subject, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(20));
        while (true)
        {
            var found = Messages().FirstOrDefault(m => IsTo(m, to) && (m.Subject ?? "").Contains(subject, StringComparison.Ordinal));
            if (found is not null)
            {
                return found;
            }

            Assert.True(DateTime.UtcNow < deadline, $"No mail to {to} about '{subject}' arrived; got {Files().Count} others.");
            await Task.Delay(50);
        }
    }

    /// <summary>True when <paramref name="message"/> is addressed to <paramref name="to"/>.</summary>
    public static bool IsTo(MimeMessage message, string to) =>
        message.To.Mailboxes.Any(m => string.Equals(m.Address, to, StringComparison.OrdinalIgnoreCase));

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

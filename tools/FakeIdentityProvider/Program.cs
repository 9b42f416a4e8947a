using System.Runtime.InteropServices;

namespace Holdfast.FakeIdentityProvider;

/// <summary>
/// The local fake identity provider of <c>scripts/run.sh</c>: an interactive OpenID Connect provider
/// on a loopback port until SIGINT or SIGTERM. Usage:
/// <c>FakeIdentityProvider [--url http://127.0.0.1:8090] [--client-id holdfast-local] [--client-secret …]</c>.
/// (A named class, not top-level statements: those make a public <c>Program</c> that would clash with
/// Holdfast's in the test project, which references both.)
/// </summary>
internal static class Program
{
    private static async Task Main(string[] args)
    {
        string? Arg(string name)
        {
            var i = Array.IndexOf(args, name);
            return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
        }

        await using var provider = await FakeOidcProvider.StartAsync(new FakeOidcProviderOptions
        {
            Url = new Uri(Arg("--url") ?? "http://127.0.0.1:8090"),
            ClientId = Arg("--client-id") ?? FakeOidcProvider.LocalClientId,
            ClientSecret = Arg("--client-secret") ?? FakeOidcProvider.LocalClientSecret,
            Interactive = true,
        });
        Console.WriteLine($"Fake identity provider on {provider.Issuer} (discovery: {provider.Issuer}.well-known/openid-configuration).");
        var stopped = new TaskCompletionSource();
        void Stop(PosixSignalContext context)
        {
            context.Cancel = true; // stop the server first (dispose above), then exit
            stopped.TrySetResult();
        }

        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        await stopped.Task;
    }
}

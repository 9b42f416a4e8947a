using System.Text.Json;
using Carter;
using Holdfast.Infrastructure.Caching;
using Holdfast.Infrastructure.Http;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;

namespace Holdfast.Features.Accounts;

/// <summary>
/// <c>GET /auth/external</c>: the identity providers a client may offer as "Sign in with …" buttons,
/// as configured (<c>ExternalLogin:Providers</c>), for anybody (decision 0029).
/// </summary>
public sealed class ListExternalProviders : ICarterModule
{
    /// <summary>One configured OpenID Connect provider.</summary>
    /// <param name="Name">Its name in URLs, e.g. <c>google</c>.</param>
    /// <param name="DisplayName">What to show, e.g. <c>Google</c> (<c>ExternalLogin:Providers:N:DisplayName</c>, default the name capitalised).</param>
    /// <param name="StartPath">Where to send the browser, with <c>?redirect_uri=</c> (one of <c>ExternalLogin:RedirectUris</c>) added: <c>/auth/external/{name}</c>.</param>
    public sealed record Provider(string Name, string DisplayName, string StartPath);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app) =>
        app.MapGet("/auth/external", Handle)
            .WithTags("Accounts")
            .WithSummary("List the identity providers one can sign in with")
            .WithDescription("In configuration order; empty when none is configured. Not paged: a deployment configures a handful at most. " +
                             "To sign in, navigate the browser to start_path?redirect_uri=… (a URI the deployment allows).")
            .Produces<List<Provider>>(StatusCodes.Status200OK)
            .AnswersWithETag();

    internal static IResult Handle(HttpContext http, IOptions<ExternalLoginOptions> options, IOptions<JsonOptions> json)
    {
        var providers = options.Value.Providers
            .Select(p => new Provider(p.Name, p.ShownName, ExternalProviderServices.StartPathOf(p.Name)))
            .ToList();
        return ReadCache.WriteWithETag(http, JsonSerializer.SerializeToUtf8Bytes(providers, json.Value.SerializerOptions));
    }
}

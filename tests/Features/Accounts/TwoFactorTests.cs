using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Holdfast.Tests.Infrastructure;
using OtpNet;

namespace Holdfast.Tests.Features.Accounts;

public sealed class TwoFactorTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    private TestApp App => fixture.App;
    private const string Password = "a long enough password";

    [Fact]
    public async Task Enrolling_confirming_and_logging_in_with_a_code_or_a_recovery_code()
    {
        var (client, email) = await RegisterAsync();
        var enrolment = await client.PostAsync("/auth/2fa/enrol", null).ExpectAsync(HttpStatusCode.OK);
        var secret = Base32Encoding.ToBytes(enrolment["secret"]!.GetValue<string>());
        Assert.StartsWith("otpauth://totp/Holdfast:", enrolment["otpauth_uri"]!.GetValue<string>(), StringComparison.Ordinal);
        var now = DateTimeOffset.UtcNow;
        string Code(int stepsFromNow) => new Totp(secret).ComputeTotp(now.AddSeconds(30 * stepsFromNow).UtcDateTime);

        // Not on until confirmed: login still gives tokens straight away.
        await Login(email).ExpectAsync(HttpStatusCode.OK);
        var wrong = await client.PostAsJsonAsync("/auth/2fa/confirm", new { code = WrongCode([Code(-1), Code(0), Code(1)]) }).ExpectAsync(HttpStatusCode.BadRequest);
        Assert.True(wrong["errors"]!.AsObject().ContainsKey("code"));
        var confirmed = await client.PostAsJsonAsync("/auth/2fa/confirm", new { code = Code(0) }).ExpectAsync(HttpStatusCode.OK);
        var recoveryCodes = confirmed["recovery_codes"].Strings();
        Assert.Equal(10, recoveryCodes.Distinct().Count());
        await client.PostAsync("/auth/2fa/enrol", null).ExpectAsync(HttpStatusCode.Conflict);

        // Password alone now yields only a challenge, which is no access token.
        var challenge = await Login(email).ExpectAsync(HttpStatusCode.OK);
        Assert.True(challenge["mfa_required"]!.GetValue<bool>());
        Assert.Null(challenge["access_token"]);
        using (var misuse = App.CreateClient())
        {
            misuse.DefaultRequestHeaders.Authorization = new("Bearer", challenge["mfa_token"]!.GetValue<string>());
            using var response = await misuse.GetAsync("/auth/sessions");
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }

        var mfaToken = challenge["mfa_token"]!.GetValue<string>();
        await SecondStep(new { mfa_token = mfaToken, code = Code(0) }).ExpectAsync(HttpStatusCode.Unauthorized); // used at confirm
        await SecondStep(new { mfa_token = "forged", code = Code(1) }).ExpectAsync(HttpStatusCode.Unauthorized);
        var tokens = await SecondStep(new { mfa_token = mfaToken, code = Code(1) }).ExpectAsync(HttpStatusCode.OK);
        Assert.NotNull(tokens["refresh_token"]);
        await SecondStep(new { mfa_token = mfaToken, code = Code(1) }).ExpectAsync(HttpStatusCode.Unauthorized); // replay

        await SecondStep(new { mfa_token = mfaToken, recovery_code = recoveryCodes[0].ToUpperInvariant() }).ExpectAsync(HttpStatusCode.OK);
        await SecondStep(new { mfa_token = mfaToken, recovery_code = recoveryCodes[0] }).ExpectAsync(HttpStatusCode.Unauthorized);

        // Disable with a recovery code; then the password alone logs in again.
        await client.PostAsJsonAsync("/auth/2fa/disable", new { code = "000000" }).ExpectAsync(HttpStatusCode.BadRequest);
        await client.PostAsJsonAsync("/auth/2fa/disable", new { recovery_code = recoveryCodes[1] }).ExpectAsync(HttpStatusCode.NoContent);
        Assert.NotNull((await Login(email).ExpectAsync(HttpStatusCode.OK))["access_token"]);
        Assert.Equal(0L, await App.DataSource.ScalarAsync<long>("select count(*) from recovery_code r join app_user u using (app_user_id) where u.email = $1", email));
    }

    [Fact]
    public async Task Confirming_without_enrolling_is_a_conflict_and_2fa_needs_a_signed_in_user()
    {
        var (client, _) = await RegisterAsync();
        await client.PostAsJsonAsync("/auth/2fa/confirm", new { code = "123456" }).ExpectAsync(HttpStatusCode.Conflict);
        await client.PostAsJsonAsync("/auth/2fa/disable", new { code = "123456" }).ExpectAsync(HttpStatusCode.Conflict);
        using var anonymous = App.CreateClient();
        using var response = await anonymous.PostAsync("/auth/2fa/enrol", null);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    private static string WrongCode(string[] valid) =>
        Enumerable.Range(0, 1000).Select(i => i.ToString("D6", System.Globalization.CultureInfo.InvariantCulture)).First(c => !valid.Contains(c));

    private async Task<(HttpClient Client, string Email)> RegisterAsync()
    {
        var client = App.CreateClient();
        var email = $"t{Guid.NewGuid():N}@example.com";
        var registered = await client.PostAsJsonAsync("/auth/register", new { email, password = Password }).ExpectAsync(HttpStatusCode.Created);
        client.DefaultRequestHeaders.Authorization = new("Bearer", registered["access_token"]!.GetValue<string>());
        return (client, email);
    }

    private Task<HttpResponseMessage> Login(string email) => App.CreateClient().PostAsJsonAsync("/auth/login", new { email, password = Password });

    private Task<HttpResponseMessage> SecondStep(object body) => App.CreateClient().PostAsJsonAsync("/auth/login/2fa", body);
}

using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using KbSync.IntegrationTests.Fixtures;
using KbSync.Persistence.Identity;

namespace KbSync.IntegrationTests.Api;

/// <summary>
/// Who a request is, on a real <c>kbsync api</c> and PostgreSQL: bearer tokens checked on every
/// request, and the dashboard's session cookie, obtained through the sign-in form as a browser would
/// (an HttpClient with a cookie jar here; the browser test drives Chromium).
/// </summary>
[Collection(ServicesCollection.Name)]
public sealed partial class AuthenticationTests(RabbitMqService rabbit, PostgresService postgres) : IAsyncLifetime
{
    private const string Kb = "auth-a";

    private KbSyncSandbox _sandbox = null!;
    private ApiProcess _api = null!;

    public async Task InitializeAsync()
    {
        _sandbox = await KbSyncSandbox.CreateAsync(rabbit, postgres);
        await _sandbox.RegisterKbAsync(Kb, remote: null);
        _api = await _sandbox.StartApiAsync();
    }

    public async Task DisposeAsync() => await _sandbox.DisposeAsync();

    [Fact]
    public async Task A_revoked_token_or_a_disabled_principals_token_is_refused_at_once_as_an_invalid_token()
    {
        var identities = TestPrincipals.Store(_sandbox);
        var revoked = await TestPrincipals.CreateAsync(_sandbox, "revoked-soon", (Kb, KbRights.Read));
        var disabled = await TestPrincipals.CreateAsync(_sandbox, "disabled-soon", (Kb, KbRights.Read));
        using var withRevoked = _api.Client(revoked);
        using var withDisabled = _api.Client(disabled);
        Assert.Equal(HttpStatusCode.OK, (await withRevoked.GetAsync("/me")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await withDisabled.GetAsync("/me")).StatusCode);

        await identities.RevokeTokenAsync((await identities.AuthenticateTokenAsync(revoked))!.TokenId);
        await identities.DisableAsync("disabled-soon");

        foreach (var client in new[] { withRevoked, withDisabled })
        {
            var refused = await client.GetAsync($"/kbs/{Kb}/stats");
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            Assert.Equal("Bearer realm=\"kbsync\", error=\"invalid_token\"", refused.Headers.WwwAuthenticate.ToString());
            Assert.Contains("unknown or revoked", await DetailAsync(refused));
        }
    }

    [Theory]
    [InlineData("Basic dXNlcjpwYXNzd29yZA==", "must be 'Bearer <token>'")]
    [InlineData("Bearer", "must be 'Bearer <token>'")]
    [InlineData("Token kbs_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "must be 'Bearer <token>'")]
    [InlineData("Bearer not-a-kbsync-token", "unknown or revoked")]
    public async Task An_authorization_header_that_is_not_a_known_bearer_token_is_a_401_problem_that_says_so(string header, string expected)
    {
        using var client = _api.Client(bearerToken: null);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/kbs");
        request.Headers.TryAddWithoutValidation("Authorization", header);

        var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Contains("error=\"invalid_token\"", response.Headers.WwwAuthenticate.ToString());
        Assert.Contains(expected, await DetailAsync(response));
    }

    [Fact]
    public async Task A_dashboard_session_reads_with_its_cookie_but_never_changes_anything_and_ends_when_its_token_is_revoked()
    {
        var token = await TestPrincipals.CreateAsync(_sandbox, "writer-a", (Kb, KbRights.Write));
        using var browser = Browser();

        var signedIn = await SignInAsync(browser, token, "/kbs");
        var me = await browser.GetFromJsonAsync<JsonElement>("/me");
        var note = await browser.PostAsJsonAsync($"/kbs/{Kb}/notes", new { requestedBy = "csrf", text = "posted with the cookie alone" });

        Assert.Equal(HttpStatusCode.Redirect, signedIn.StatusCode);
        Assert.Equal("/kbs", signedIn.Headers.Location!.OriginalString);
        var cookie = Assert.Single(signedIn.Headers.GetValues("Set-Cookie"), c => c.StartsWith("kbsync.session=", StringComparison.Ordinal));
        Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(token, cookie);
        Assert.Equal("writer-a", me.GetProperty("name").GetString());
        Assert.Equal(HttpStatusCode.Unauthorized, note.StatusCode); // a cookie never authenticates a POST: no cross-site request can write
        Assert.Empty(await _sandbox.WaitForFinalAsync(0, TimeSpan.Zero));

        var identities = TestPrincipals.Store(_sandbox);
        await identities.RevokeTokenAsync((await identities.AuthenticateTokenAsync(token))!.TokenId);
        var afterRevoke = await browser.GetAsync("/me");

        Assert.Equal(HttpStatusCode.Unauthorized, afterRevoke.StatusCode);
        Assert.Contains(afterRevoke.Headers.GetValues("Set-Cookie"), c => c.StartsWith("kbsync.session=;", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Signing_in_with_an_unknown_token_is_refused_and_a_return_address_on_another_site_is_a_400_problem_that_signs_nobody_in()
    {
        var token = await TestPrincipals.CreateAsync(_sandbox, "reader-a", (Kb, KbRights.Read));
        using var browser = Browser();

        var wrong = await SignInAsync(browser, TestPrincipals.UnknownToken(), "/kbs");
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        Assert.Contains("That token is unknown or revoked", await wrong.Content.ReadAsStringAsync());
        Assert.False(wrong.Headers.TryGetValues("Set-Cookie", out var cookies) && cookies.Any(c => c.StartsWith("kbsync.session=", StringComparison.Ordinal)));
        Assert.Equal(HttpStatusCode.Unauthorized, (await browser.GetAsync("/me")).StatusCode);

        foreach (var foreign in new[] { "//evil.example/x", "https://evil.example/", "/\\evil.example" })
        {
            var refused = await SignInAsync(browser, token, foreign);
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
            Assert.StartsWith($"returnUrl '{foreign}' is not a path of this site", await DetailAsync(refused));
            Assert.False(refused.Headers.TryGetValues("Set-Cookie", out var set) && set.Any(c => c.StartsWith("kbsync.session=", StringComparison.Ordinal)));
            var linked = await browser.GetAsync($"/signin?returnUrl={Uri.EscapeDataString(foreign)}");
            Assert.Equal(HttpStatusCode.BadRequest, linked.StatusCode);
            Assert.Contains("returnUrl", await DetailAsync(linked));
        }

        Assert.Equal(HttpStatusCode.Unauthorized, (await browser.GetAsync("/me")).StatusCode);
        var signedIn = await SignInAsync(browser, token, "/queues?x=1");
        Assert.Equal(HttpStatusCode.Redirect, signedIn.StatusCode);
        Assert.Equal("/queues?x=1", signedIn.Headers.Location!.OriginalString);
    }

    /// <summary>A client that keeps cookies and does not follow redirects, as a test can read them.</summary>
    private HttpClient Browser() =>
        new(new HttpClientHandler { CookieContainer = new CookieContainer(), AllowAutoRedirect = false }) { BaseAddress = _api.BaseAddress };

    /// <summary>Opens the sign-in form and submits it with <paramref name="token"/>, as a browser would.</summary>
    private static async Task<HttpResponseMessage> SignInAsync(HttpClient browser, string token, string returnUrl)
    {
        var form = await browser.GetStringAsync("/signin");
        var antiforgery = AntiforgeryField().Match(form);
        Assert.True(antiforgery.Success, $"No antiforgery field in the sign-in form:\n{form}");
        return await browser.PostAsync("/signin", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["token"] = token,
            ["returnUrl"] = returnUrl,
            [antiforgery.Groups[1].Value] = WebUtility.HtmlDecode(antiforgery.Groups[2].Value),
        }));
    }

    private static async Task<string> DetailAsync(HttpResponseMessage response)
    {
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("detail").GetString()!;
    }

    [GeneratedRegex("<input type=\"hidden\" name=\"(__RequestVerificationToken)\" value=\"([^\"]+)\">")]
    private static partial Regex AntiforgeryField();
}

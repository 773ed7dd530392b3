using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using KbSync.Contracts;
using KbSync.IntegrationTests.Fixtures;
using KbSync.Persistence.Identity;

namespace KbSync.IntegrationTests.Api;

/// <summary>
/// Every endpoint of the API, as its OpenAPI document lists them (so a new one cannot be left out),
/// called by anonymous, an unknown token, a reader, a writer, an agent user and a manager of KB A, and
/// an admin, on a real <c>kbsync api</c>, worker, RabbitMQ and PostgreSQL: every answer has the
/// designed status, and every refusal is problem details.
/// </summary>
[Collection(ServicesCollection.Name)]
public sealed class AuthorizationMatrixTests(RabbitMqService rabbit, PostgresService postgres) : IAsyncLifetime
{
    private const string KbA = "matrix-a";
    private const string KbB = "matrix-b";
    private static readonly string[] Callers = ["anonymous", "unknown token", "reader", "writer", "agent", "manager", "admin"];

    private KbSyncSandbox _sandbox = null!;
    private ApiProcess _api = null!;
    private readonly Dictionary<string, string?> _tokens = [];
    private Guid _operationOfA;
    private Guid _operationOfB;
    private string _remoteOfA = "";

    public async Task InitializeAsync()
    {
        _sandbox = await KbSyncSandbox.CreateAsync(rabbit, postgres);
        await _sandbox.StartWorkerAsync("w1");
        _remoteOfA = (await _sandbox.RegisterKbsWithRemotesAsync([KbA, KbB]))[KbA].Path;
        _tokens["anonymous"] = null;
        _tokens["unknown token"] = TestPrincipals.UnknownToken();
        _tokens["reader"] = await TestPrincipals.CreateAsync(_sandbox, "reader-a", (KbA, KbRights.Read));
        _tokens["writer"] = await TestPrincipals.CreateAsync(_sandbox, "writer-a", (KbA, KbRights.Write));
        _tokens["agent"] = await TestPrincipals.CreateAsync(_sandbox, "agent-a", (KbA, KbRights.Agent));
        _tokens["manager"] = await TestPrincipals.CreateAsync(_sandbox, "manager-a", (KbA, KbRights.Manage));
        _tokens["admin"] = _sandbox.AdminToken;

        var ofA = HistoryRows.Finished(KbA, "alice", OperationStatus.Succeeded, DateTimeOffset.UtcNow.AddMinutes(-5));
        var ofB = HistoryRows.Finished(KbB, "bob", OperationStatus.Succeeded, DateTimeOffset.UtcNow.AddMinutes(-5));
        await HistoryRows.SaveAsync(_sandbox.Database, [ofA, ofB]);
        (_operationOfA, _operationOfB) = (ofA.Id, ofB.Id);
        _api = await _sandbox.StartApiAsync();
    }

    public async Task DisposeAsync() => await _sandbox.DisposeAsync();

    /// <summary>A request and what each caller (in <see cref="Callers"/>' order) must get; every one about KB A.</summary>
    private sealed record Call(string Path, Func<HttpContent>? Body, params int[] Expected);

    /// <summary>The design, by "METHOD /path" as the OpenAPI document writes it.</summary>
    private Dictionary<string, Call> Design() => new()
    {
        //                                                                                       anon  unknown reader writer agent manager admin
        ["POST /kbs/{kb}/notes"] = new($"/kbs/{KbA}/notes", () => Json(new { requestedBy = "matrix", text = "May I?" }), 401, 401, 403, 202, 403, 403, 202),
        ["POST /kbs/{kb}/agent-tasks"] = new($"/kbs/{KbA}/agent-tasks", () => Json(new { requestedBy = "matrix", instruction = "List the KB.", readOnly = true }),
            401, 401, 403, 403, 202, 403, 202),
        ["GET /operations/{id}"] = new($"/operations/{_operationOfA}", null, 401, 401, 200, 200, 200, 200, 200),
        ["GET /operations"] = new("/operations", null, 401, 401, 200, 200, 200, 200, 200),
        ["GET /kbs"] = new("/kbs", null, 401, 401, 200, 200, 200, 200, 200),
        ["POST /kbs"] = new("/kbs", () => Json(new { id = KbA, remote = _remoteOfA, replace = true }), 401, 401, 403, 403, 403, 200, 200),
        ["GET /queues"] = new("/queues", null, 401, 401, 200, 200, 200, 200, 200),
        ["GET /kbs/{kb}/stats"] = new($"/kbs/{KbA}/stats", null, 401, 401, 200, 200, 200, 200, 200),
        ["GET /stats"] = new("/stats", null, 401, 401, 200, 200, 200, 200, 200),
        ["GET /me"] = new("/me", null, 401, 401, 200, 200, 200, 200, 200),
        ["GET /health"] = new("/health", null, 200, 200, 200, 200, 200, 200, 200),
        // a page: an anonymous visitor (or one whose token is refused) is sent to sign in
        ["GET /dashboard"] = new("/dashboard", null, 302, 302, 200, 200, 200, 200, 200),
        ["GET /signin"] = new("/signin", null, 200, 200, 200, 200, 200, 200, 200),
        // browser forms: without the antiforgery token of a form this API served, refused whoever calls
        ["POST /signin"] = new("/signin", () => Form(("token", _sandbox.AdminToken)), 400, 400, 400, 400, 400, 400, 400),
        ["POST /signout"] = new("/signout", () => Form(), 400, 400, 400, 400, 400, 400, 400),
    };

    /// <summary>Served but not in the document (the document itself).</summary>
    private static readonly Dictionary<string, Call> Undocumented = new()
    {
        ["GET /openapi/v1.json"] = new("/openapi/v1.json", null, 401, 401, 200, 200, 200, 200, 200),
    };

    [Fact]
    public async Task Every_endpoint_in_the_openapi_document_answers_anonymous_an_unknown_token_each_right_on_kb_a_and_an_admin_as_designed_with_problem_details()
    {
        var documented = await DocumentedEndpointsAsync();
        var design = Design();

        Assert.True(documented.SetEquals(design.Keys),
            $"The OpenAPI document and this matrix disagree. Not in the matrix: {string.Join(", ", documented.Except(design.Keys))}; " +
            $"not in the document: {string.Join(", ", design.Keys.Except(documented))}");

        var wrong = new List<string>();
        foreach (var (endpoint, call) in design.Concat(Undocumented))
        {
            Assert.Equal(Callers.Length, call.Expected.Length);
            for (var i = 0; i < Callers.Length; i++)
            {
                wrong.AddRange(await CheckAsync(endpoint, call, Callers[i], call.Expected[i]));
            }
        }

        Assert.True(wrong.Count == 0, $"{wrong.Count} answers differ from the design:\n{string.Join("\n", wrong)}");
    }

    [Fact]
    public async Task An_operation_of_a_kb_the_caller_may_not_read_is_404_exactly_like_an_id_that_does_not_exist()
    {
        var unknownId = Guid.NewGuid();
        foreach (var caller in new[] { "reader", "writer", "agent", "manager" })
        {
            using var client = _api.Client(_tokens[caller]);

            var otherKbs = await client.GetAsync($"/operations/{_operationOfB}");
            var unknown = await client.GetAsync($"/operations/{unknownId}");

            Assert.Equal(HttpStatusCode.NotFound, otherKbs.StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
            Assert.Equal(
                (await ProblemAsync(unknown)).GetProperty("detail").GetString()!.Replace(unknownId.ToString(), "ID", StringComparison.Ordinal),
                (await ProblemAsync(otherKbs)).GetProperty("detail").GetString()!.Replace(_operationOfB.ToString(), "ID", StringComparison.Ordinal));
        }

        Assert.Equal(HttpStatusCode.OK, (await _api.Http.GetAsync($"/operations/{_operationOfB}")).StatusCode);
    }

    /// <summary>Sends one call as one caller; what is wrong with the answer, if anything.</summary>
    private async Task<IEnumerable<string>> CheckAsync(string endpoint, Call call, string caller, int expected)
    {
        using var client = _api.Client(_tokens[caller], followRedirects: false);
        using var request = new HttpRequestMessage(new HttpMethod(endpoint.Split(' ')[0]), call.Path) { Content = call.Body?.Invoke() };
        using var response = await client.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        var status = (int)response.StatusCode;
        var at = $"{endpoint} as {caller}:";
        if (status != expected)
        {
            return [$"{at} {status}, designed {expected}: {Cut(body)}"];
        }

        var wrong = new List<string>();
        if (status is 400 or 401 or 403 or 404)
        {
            if (response.Content.Headers.ContentType?.MediaType != "application/problem+json")
            {
                wrong.Add($"{at} {status} as {response.Content.Headers.ContentType?.MediaType ?? "no content type"}, not problem details: {Cut(body)}");
            }
            else if (JsonDocument.Parse(body).RootElement is var problem &&
                     (problem.GetProperty("status").GetInt32() != status || problem.TryGetProperty("detail", out var detail) is false || string.IsNullOrWhiteSpace(detail.GetString())))
            {
                wrong.Add($"{at} problem details without status {status} or a detail: {Cut(body)}");
            }
        }

        if (status == 401)
        {
            var challenge = response.Headers.WwwAuthenticate.ToString();
            var invalid = caller == "unknown token";
            if (!challenge.StartsWith("Bearer", StringComparison.Ordinal) || challenge.Contains("error=\"invalid_token\"", StringComparison.Ordinal) != invalid)
            {
                wrong.Add($"{at} 401 with WWW-Authenticate '{challenge}' (Bearer{(invalid ? ", error=\"invalid_token\"" : "")} expected)");
            }
        }

        if (status == 302 && response.Headers.Location?.AbsolutePath != "/signin")
        {
            wrong.Add($"{at} redirected to {response.Headers.Location}, not to /signin");
        }

        return wrong;
    }

    private async Task<HashSet<string>> DocumentedEndpointsAsync()
    {
        var document = await _api.Http.GetFromJsonAsync<JsonElement>("/openapi/v1.json");
        return document.GetProperty("paths").EnumerateObject()
            .SelectMany(path => path.Value.EnumerateObject().Select(operation => $"{operation.Name.ToUpperInvariant()} {path.Name}"))
            .ToHashSet();
    }

    private static async Task<JsonElement> ProblemAsync(HttpResponseMessage response)
    {
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    private static HttpContent Json(object body) => JsonContent.Create(body);

    private static HttpContent Form(params (string Name, string Value)[] fields) =>
        new FormUrlEncodedContent(fields.Select(f => KeyValuePair.Create(f.Name, f.Value)));

    private static string Cut(string body) => body.Length <= 300 ? body : body[..300] + "…";
}

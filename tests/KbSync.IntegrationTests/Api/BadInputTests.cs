using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using KbSync.IntegrationTests.Fixtures;

namespace KbSync.IntegrationTests.Api;

/// <summary>
/// Every parameter of every operation of the API, as its OpenAPI document lists them (route, query,
/// each field of a JSON or form body), sent malformed by an admin, on a real <c>kbsync api</c>: each
/// answer is a 4xx problem details whose detail names the parameter; never a 500, never an empty body.
/// A parameter the document gains without a malformed value here fails the test.
/// </summary>
[Collection(ServicesCollection.Name)]
public sealed partial class BadInputTests(RabbitMqService rabbit, PostgresService postgres) : IAsyncLifetime
{
    private const string Kb = "walked-kb";

    /// <summary>A malformed value for each route or query parameter, by name ("route:" for a route value).</summary>
    private static readonly Dictionary<string, string> Malformed = new()
    {
        ["route:kb"] = "Bad_Id",
        ["route:id"] = "not-a-uuid",
        ["kb"] = "../../etc",
        ["user"] = new string('x', 201),
        ["status"] = "done",
        ["kind"] = "poem",
        ["since"] = "garbage",
        ["until"] = "7x",
        ["limit"] = "abc",
        ["cursor"] = "not-a-cursor",
        ["bucket"] = "soon",
        ["exact"] = "maybe",
        ["returnUrl"] = "https://evil.example/",
    };

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
    public async Task Every_parameter_of_every_operation_in_the_openapi_document_sent_malformed_is_a_4xx_problem_that_names_it()
    {
        var document = await _api.Http.GetFromJsonAsync<JsonElement>("/openapi/v1.json");
        var cases = Cases(document).ToList();
        var wrong = new List<string>();
        foreach (var (label, name, send) in cases)
        {
            using var browser = Browser();
            using var request = await send(browser);
            using var response = await browser.SendAsync(request);
            wrong.AddRange(await CheckAsync(label, name, response));
        }

        Assert.True(wrong.Count == 0, $"{wrong.Count} of {cases.Count} malformed inputs were not answered as designed:\n{string.Join("\n", wrong)}");
        Assert.True(cases.Count >= 30, $"Only {cases.Count} cases: the document was not walked.");
    }

    [Fact]
    public async Task A_body_that_does_not_parse_is_400_one_of_another_media_type_415_and_a_missing_one_400()
    {
        var url = $"/kbs/{Kb}/notes";
        var broken = await ProblemAsync(await _api.Http.PostAsync(url, new StringContent("""{"requestedBy": """, Encoding.UTF8, "application/json")));
        var plain = await ProblemAsync(await _api.Http.PostAsync(url, new StringContent("""{"requestedBy": "a", "text": "b"}""", Encoding.UTF8, "text/plain")));
        var none = await ProblemAsync(await _api.Http.PostAsync(url, content: null));

        Assert.Equal(400, broken.Status);
        Assert.Contains("not valid JSON", broken.Detail);
        Assert.Equal((415, "The body must be JSON (Content-Type: application/json), not 'text/plain'."), plain);
        Assert.Equal(400, none.Status);
        Assert.StartsWith("The request needs a JSON body", none.Detail);
    }

    /// <summary>A problem-details answer's status and detail (fails for any other answer).</summary>
    private static async Task<(int Status, string Detail)> ProblemAsync(HttpResponseMessage response)
    {
        using (response)
        {
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
            return ((int)response.StatusCode, problem.GetProperty("detail").GetString() ?? "");
        }
    }

    [Theory]
    [InlineData("/operations?since=7d")]
    [InlineData("/operations?since=90m&until=1m")]
    [InlineData("/operations?since=2024-03-01T00:00:00Z&until=24h")]
    [InlineData("/stats?since=7d&until=1h")]
    public async Task Ages_work_wherever_times_are_accepted(string path)
    {
        var response = await _api.Http.GetAsync(path);

        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
    }

    /// <summary>One malformed request per parameter: a label, the name its detail must say, and how to send it.</summary>
    private IEnumerable<(string Label, string Name, Func<HttpClient, Task<HttpRequestMessage>> Send)> Cases(JsonElement document)
    {
        foreach (var path in document.GetProperty("paths").EnumerateObject())
        {
            foreach (var operation in path.Value.EnumerateObject())
            {
                var method = new HttpMethod(operation.Name.ToUpperInvariant());
                var endpoint = $"{method} {path.Name}";
                var parameters = operation.Value.TryGetProperty("parameters", out var list) ? list.EnumerateArray().ToList() : [];
                foreach (var parameter in parameters)
                {
                    var name = parameter.GetProperty("name").GetString()!;
                    var inRoute = parameter.GetProperty("in").GetString() == "path";
                    var key = inRoute ? $"route:{name}" : name;
                    Assert.True(Malformed.ContainsKey(key), $"{endpoint}: no malformed value for {key}; add one to {nameof(Malformed)}.");
                    var url = inRoute
                        ? Fill(path.Name, name, Malformed[key])
                        : $"{Fill(path.Name)}?{name}={Uri.EscapeDataString(Malformed[key])}";
                    yield return ($"{endpoint} {key}", name, _ => Task.FromResult(new HttpRequestMessage(method, url)));
                }

                if (!operation.Value.TryGetProperty("requestBody", out var body))
                {
                    continue;
                }

                foreach (var content in body.GetProperty("content").EnumerateObject().DistinctBy(c => c.Name == "application/json"))
                {
                    var fields = Properties(document, content.Value.GetProperty("schema"));
                    if (content.Name == "application/json")
                    {
                        yield return ($"{endpoint} body not JSON", "body", _ => Task.FromResult(Json(method, Fill(path.Name), """{"requestedBy": """)));
                        yield return ($"{endpoint} body not an object", "body", _ => Task.FromResult(Json(method, Fill(path.Name), "\"text\"")));
                        yield return ($"{endpoint} body as text/plain", "body",
                            _ => Task.FromResult(new HttpRequestMessage(method, Fill(path.Name)) { Content = new StringContent("{}", Encoding.UTF8, "text/plain") }));
                        yield return ($"{endpoint} no body", "body", _ => Task.FromResult(new HttpRequestMessage(method, Fill(path.Name))));
                        foreach (var (field, schema) in fields)
                        {
                            var value = WrongJsonFor(schema).ToJsonString();
                            yield return ($"{endpoint} body.{field} = {value}", field, _ => Task.FromResult(Json(method, Fill(path.Name), $$"""{"{{field}}": {{value}}}""")));
                        }
                    }
                    else
                    {
                        // a browser form: with a valid antiforgery token, each field malformed; without one, refused for that
                        yield return ($"{endpoint} form without its antiforgery token", "antiforgery token",
                            _ => Task.FromResult(new HttpRequestMessage(method, path.Name) { Content = new FormUrlEncodedContent([KeyValuePair.Create("token", "kbs_x")]) }));
                        foreach (var (field, _) in fields)
                        {
                            Assert.True(FormMalformed.ContainsKey(field), $"{endpoint}: no malformed value for form field {field}; add one to {nameof(FormMalformed)}.");
                            yield return ($"{endpoint} form {field}", field, browser => FormAsync(browser, method, path.Name, field));
                        }
                    }
                }
            }
        }
    }

    /// <summary>A malformed value for each field of a browser form.</summary>
    private static readonly Dictionary<string, string> FormMalformed = new()
    {
        ["token"] = " ",
        ["returnUrl"] = "//evil.example/",
    };

    /// <summary>The form as a browser posts it (its antiforgery token from the sign-in page), with <paramref name="field"/> malformed.</summary>
    private static async Task<HttpRequestMessage> FormAsync(HttpClient browser, HttpMethod method, string path, string field)
    {
        var page = await browser.GetStringAsync("/signin");
        var antiforgery = AntiforgeryField().Match(page);
        Assert.True(antiforgery.Success, $"No antiforgery field in the sign-in form:\n{page}");
        var fields = new Dictionary<string, string>
        {
            ["token"] = TestPrincipals.UnknownToken(),
            ["returnUrl"] = "/dashboard",
            [antiforgery.Groups[1].Value] = WebUtility.HtmlDecode(antiforgery.Groups[2].Value),
        };
        fields[field] = FormMalformed[field];
        return new HttpRequestMessage(method, path) { Content = new FormUrlEncodedContent(fields) };
    }

    private async Task<IEnumerable<string>> CheckAsync(string label, string name, HttpResponseMessage response)
    {
        var status = (int)response.StatusCode;
        var body = await response.Content.ReadAsStringAsync();
        if (status is < 400 or >= 500)
        {
            return [$"{label}: {status}, not a 4xx: {Cut(body)}"];
        }

        if (response.Content.Headers.ContentType?.MediaType != "application/problem+json")
        {
            return [$"{label}: {status} as {response.Content.Headers.ContentType?.MediaType ?? "no content type"}, not problem details: {Cut(body)}"];
        }

        var problem = JsonDocument.Parse(body).RootElement;
        var detail = problem.TryGetProperty("detail", out var d) ? d.GetString() ?? "" : "";
        if (problem.GetProperty("status").GetInt32() != status || !detail.Contains(name, StringComparison.OrdinalIgnoreCase))
        {
            return [$"{label}: {status} problem whose detail does not name '{name}': {Cut(body)}"];
        }

        return detail.Contains("System.", StringComparison.Ordinal) || detail.Contains('`')
            ? [$"{label}: the detail shows a .NET type name: {detail}"]
            : [];
    }

    /// <summary>The properties of a body schema (its <c>$ref</c> followed), by JSON name.</summary>
    private static IEnumerable<(string Name, JsonElement Schema)> Properties(JsonElement document, JsonElement schema)
    {
        if (schema.TryGetProperty("$ref", out var reference))
        {
            schema = reference.GetString()!.TrimStart('#', '/').Split('/').Aggregate(document, (e, step) => e.GetProperty(step));
        }

        return schema.TryGetProperty("properties", out var properties)
            ? properties.EnumerateObject().Select(p => (p.Name, p.Value))
            : [];
    }

    /// <summary>A JSON value of the wrong type for a field: a number for a string, a word for a boolean, an integer or a UUID, a string for an array or an object.</summary>
    private static JsonNode WrongJsonFor(JsonElement schema)
    {
        var types = !schema.TryGetProperty("type", out var type) ? ["object"]
            : type.ValueKind == JsonValueKind.Array ? type.EnumerateArray().Select(t => t.GetString()!).ToList()
            : [type.GetString()!];
        var format = schema.TryGetProperty("format", out var f) ? f.GetString() : null;
        return types.First(t => t != "null") switch
        {
            "string" when format == "uuid" => JsonValue.Create("not-a-uuid"),
            "string" => JsonValue.Create(12),
            "boolean" or "integer" or "number" => JsonValue.Create("maybe"),
            _ => JsonValue.Create("not this"),
        };
    }

    /// <summary>The path with every route value valid, or <paramref name="name"/> set to <paramref name="value"/>.</summary>
    private static string Fill(string path, string? name = null, string? value = null) =>
        RouteValue().Replace(path, m => m.Groups[1].Value == name ? Uri.EscapeDataString(value!) : m.Groups[1].Value switch
        {
            "kb" => Kb,
            "id" => Guid.NewGuid().ToString(),
            var other => throw new InvalidOperationException($"No valid value for route parameter {other} of {path}."),
        });

    private static HttpRequestMessage Json(HttpMethod method, string url, string json) =>
        new(method, url) { Content = new StringContent(json, Encoding.UTF8, "application/json") };

    /// <summary>An admin's client that keeps cookies (for the forms' antiforgery cookie) and does not follow redirects.</summary>
    private HttpClient Browser()
    {
        var client = new HttpClient(new HttpClientHandler { CookieContainer = new CookieContainer(), AllowAutoRedirect = false }) { BaseAddress = _api.BaseAddress };
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", _sandbox.AdminToken);
        return client;
    }

    private static string Cut(string body) => body.Length <= 300 ? body : body[..300] + "…";

    [GeneratedRegex(@"\{(\w+)\}")]
    private static partial Regex RouteValue();

    [GeneratedRegex("<input type=\"hidden\" name=\"(__RequestVerificationToken)\" value=\"([^\"]+)\">")]
    private static partial Regex AntiforgeryField();
}

using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using KbSync.IntegrationTests.Fixtures;

namespace KbSync.IntegrationTests.Pipeline;

/// <summary>The HTTP API on a real host (<c>kbsync api</c>), a real worker and a bare remote.</summary>
[Collection(ServicesCollection.Name)]
public sealed class ApiTests(RabbitMqService rabbit, PostgresService postgres) : IAsyncLifetime
{
    private KbSyncSandbox _sandbox = null!;
    private ApiProcess _api = null!;

    public async Task InitializeAsync()
    {
        _sandbox = await KbSyncSandbox.CreateAsync(rabbit, postgres);
        await _sandbox.StartWorkerAsync("w1");
        _api = await CliRunner.StartApiAsync(_sandbox.Environment());
    }

    public async Task DisposeAsync()
    {
        await _api.DisposeAsync();
        await _sandbox.DisposeAsync();
    }

    [Fact]
    public async Task A_kb_registered_and_a_note_posted_over_http_is_committed_and_readable_by_its_status_url()
    {
        var remote = _sandbox.CreateRemote("api-kb");
        var registered = await _api.Http.PostAsJsonAsync("/kbs", new { id = "api-kb", remote = remote.Path });
        Assert.Equal(HttpStatusCode.Created, registered.StatusCode);

        var posted = await _api.Http.PostAsJsonAsync("/kbs/api-kb/notes", new { requestedBy = "webhook", text = "Posted over HTTP.", tags = new[] { "http" } });

        Assert.Equal(HttpStatusCode.Accepted, posted.StatusCode);
        var accepted = await posted.Content.ReadFromJsonAsync<JsonElement>();
        var statusUrl = accepted.GetProperty("statusUrl").GetString()!;
        Assert.Equal(statusUrl, posted.Headers.Location!.OriginalString);
        await _sandbox.WaitForOperationAsync(accepted.GetProperty("operationId").GetGuid());
        Assert.True(accepted.GetProperty("queuePosition").GetInt32() >= 1);
        var view = await _api.Http.GetFromJsonAsync<JsonElement>(statusUrl);
        var operation = view.GetProperty("operation");
        Assert.Equal("succeeded", operation.GetProperty("status").GetString());
        Assert.Equal(JsonValueKind.Null, view.GetProperty("queuePosition").ValueKind);
        Assert.Equal(remote.Commits().Single().Sha, operation.GetProperty("commitSha").GetString());
    }

    [Theory]
    [InlineData("/kbs/Bad_Id/notes", """{"requestedBy":"x","text":"y"}""", "not a valid KB id")]
    [InlineData("/kbs/api-kb/notes", """{"requestedBy":"x","text":"  "}""", "text is empty")]
    [InlineData("/kbs/api-kb/notes", """{"text":"who?"}""", "who is asking")]
    [InlineData("/kbs", """{"id":"x","remote":"https://u:p@example.com/r.git"}""", "must not carry credentials")]
    public async Task Bad_input_gets_a_400_problem_that_says_what_is_wrong(string path, string json, string expected)
    {
        var response = await _api.Http.PostAsync(path, new StringContent(json, System.Text.Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType!.MediaType);
        Assert.Contains(expected, (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("detail").GetString());
    }

    [Fact]
    public async Task Listing_operations_is_bounded_and_an_unknown_one_is_404()
    {
        Assert.Equal(HttpStatusCode.BadRequest, (await _api.Http.GetAsync("/operations?limit=100000")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await _api.Http.GetAsync("/operations?status=done")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await _api.Http.GetAsync("/operations?kind=poem")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await _api.Http.GetAsync("/operations?cursor=not-a-cursor")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _api.Http.GetAsync($"/operations/{Guid.NewGuid()}")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await _api.Http.GetAsync("/openapi/v1.json")).StatusCode);
    }
}

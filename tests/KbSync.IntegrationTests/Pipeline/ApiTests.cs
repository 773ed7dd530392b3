using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using KbSync.Contracts;
using KbSync.IntegrationTests.Fixtures;
using KbSync.Persistence.Analytics.Rollups;

namespace KbSync.IntegrationTests.Pipeline;

/// <summary>The HTTP API on a real host (<c>kbsync api</c>), a real worker and a bare remote, called as the sandbox's admin.</summary>
[Collection(ServicesCollection.Name)]
public sealed class ApiTests(RabbitMqService rabbit, PostgresService postgres) : IAsyncLifetime
{
    private KbSyncSandbox _sandbox = null!;
    private ApiProcess _api = null!;

    public async Task InitializeAsync()
    {
        _sandbox = await KbSyncSandbox.CreateAsync(rabbit, postgres);
        await _sandbox.StartWorkerAsync("w1");
        _api = await _sandbox.StartApiAsync();
    }

    public async Task DisposeAsync() => await _sandbox.DisposeAsync();

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
    public async Task An_oversized_request_gets_a_413_problem_and_nothing_is_queued()
    {
        var tooLongNote = new string('x', RequestLimits.MaxNoteBytes + 1);
        var response = await _api.Http.PostAsJsonAsync("/kbs/api-kb/notes", new { requestedBy = "x", text = tooLongNote });

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType!.MediaType);
        Assert.Contains($"larger than {RequestLimits.MaxNoteBytes} bytes", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("detail").GetString());

        var tooLargeBody = new StringContent($$"""{"requestedBy":"x","text":"{{new string('y', RequestLimits.MaxRequestBytes + 1)}}"}""", System.Text.Encoding.UTF8, "application/json");
        // with 100-continue, as a careful client sends a big body: the answer comes before the body is sent
        using var request = new HttpRequestMessage(HttpMethod.Post, "/kbs/api-kb/notes") { Content = tooLargeBody };
        request.Headers.ExpectContinue = true;
        var refused = await _api.Http.SendAsync(request);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, refused.StatusCode);
        Assert.Equal("application/problem+json", refused.Content.Headers.ContentType!.MediaType);
        Assert.Empty(await _sandbox.WaitForFinalAsync(0, TimeSpan.Zero));
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

    private static readonly DateTimeOffset T = new(2030, 3, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task Stats_of_a_kb_are_its_counts_waits_and_waits_over_time_in_the_range_and_buckets_asked()
    {
        await SeedStatsHistoryAsync();

        var stats = await _api.Http.GetFromJsonAsync<JsonElement>("/kbs/stats-kb/stats?since=2030-03-01T00:00:00Z&until=2030-03-01T06:00:00Z&bucket=1h");

        Assert.Equal("stats-kb", stats.GetProperty("kbId").GetString());
        Assert.Equal("01:00:00", stats.GetProperty("bucket").GetString());
        Assert.Equal(3, stats.GetProperty("statuses").GetProperty("total").GetInt64());
        Assert.Equal(1, stats.GetProperty("statuses").GetProperty("failed").GetInt64());
        // percentiles from the rollups: within their stated relative error by design
        var error = LogHistogram.RelativeError;
        var queueWait = stats.GetProperty("waits").GetProperty("queueWait");
        Assert.Equal(200.0, queueWait.GetProperty("p50Ms").GetDouble(), 200.0 * error);
        Assert.Equal(380.0, queueWait.GetProperty("p95Ms").GetDouble(), 380.0 * error);
        Assert.Equal(905.0, stats.GetProperty("waits").GetProperty("lockWait").GetProperty("p95Ms").GetDouble(), 905.0 * error);
        Assert.Equal(6, stats.GetProperty("throughput").GetArrayLength());
        var overTime = stats.GetProperty("waitsOverTime").EnumerateArray().ToList();
        Assert.Equal(6, overTime.Count);
        Assert.Equal(150.0, overTime[0].GetProperty("queueWaitP50Ms").GetDouble(), 150.0 * error);
        Assert.Equal(JsonValueKind.Null, overTime[1].GetProperty("queueWaitP50Ms").ValueKind);
        Assert.Equal(400.0, overTime[2].GetProperty("queueWaitP95Ms").GetDouble(), 400.0 * error);
        Assert.Equal(2, overTime[0].GetProperty("queueWaitSamples").GetInt64());

        // exact=true: percentile_cont over the raw rows
        var exact = await _api.Http.GetFromJsonAsync<JsonElement>("/kbs/stats-kb/stats?since=2030-03-01T00:00:00Z&until=2030-03-01T06:00:00Z&bucket=1h&exact=true");
        Assert.Equal(200.0, exact.GetProperty("waits").GetProperty("queueWait").GetProperty("p50Ms").GetDouble(), 1e-9);
        Assert.Equal(380.0, exact.GetProperty("waits").GetProperty("queueWait").GetProperty("p95Ms").GetDouble(), 1e-9);
        Assert.Equal(905.0, exact.GetProperty("waits").GetProperty("lockWait").GetProperty("p95Ms").GetDouble(), 1e-9);
        Assert.Equal(400.0, exact.GetProperty("waitsOverTime")[2].GetProperty("queueWaitP95Ms").GetDouble(), 1e-9);
    }

    [Fact]
    public async Task Stats_without_a_range_cover_the_last_24_hours_in_48_buckets_of_30_minutes_and_overall_stats_count_every_kb()
    {
        await SeedStatsHistoryAsync();

        var recent = await _api.Http.GetFromJsonAsync<JsonElement>("/kbs/stats-kb/stats");
        var all = await _api.Http.GetFromJsonAsync<JsonElement>("/stats?since=2030-03-01T00:00:00Z&until=2030-03-02T00:00:00Z");

        Assert.Equal(TimeSpan.FromHours(24), recent.GetProperty("until").GetDateTimeOffset() - recent.GetProperty("since").GetDateTimeOffset());
        Assert.Equal("00:30:00", recent.GetProperty("bucket").GetString());
        Assert.Equal(48, recent.GetProperty("throughput").GetArrayLength());
        Assert.Equal(48, recent.GetProperty("waitsOverTime").GetArrayLength());
        Assert.Equal(JsonValueKind.Null, all.GetProperty("kbId").ValueKind);
        Assert.Equal(4, all.GetProperty("statuses").GetProperty("total").GetInt64());
        Assert.Equal(9000.0, all.GetProperty("waits").GetProperty("queueWait").GetProperty("maxMs").GetDouble(), 9000.0 * LogHistogram.RelativeError); // from the rollups, within 1 % by design
        Assert.Equal(48, all.GetProperty("throughput").GetArrayLength());
    }

    [Theory]
    [InlineData("/stats?since=yesterday", "since 'yesterday' is not a time")]
    [InlineData("/stats?since=2030-03-02T00:00:00Z&until=2030-03-01T00:00:00Z", "must be before until")]
    [InlineData("/stats?since=2020-01-01T00:00:00Z&until=2030-01-01T00:00:00Z", "at most 400 days")]
    [InlineData("/stats?since=2030-03-01T00:00:00Z&until=2030-03-08T00:00:00Z&bucket=1m", "at most 1000 are allowed")]
    [InlineData("/stats?bucket=soon", "bucket 'soon' is not a duration")]
    [InlineData("/stats?bucket=10s", "must be between 00:01:00 and 1.00:00:00")]
    [InlineData("/kbs/Bad_Id/stats", "not a valid KB id")]
    public async Task Bad_stats_queries_get_a_400_problem_that_says_what_is_wrong(string path, string expected)
    {
        var response = await _api.Http.GetAsync(path);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType!.MediaType);
        Assert.Contains(expected, (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("detail").GetString());
    }

    [Fact]
    public async Task Stats_of_an_unregistered_kb_are_404_and_the_stats_and_dashboard_are_in_the_openapi_document()
    {
        var unknown = await _api.Http.GetAsync("/kbs/no-such-kb/stats");
        var openApi = await _api.Http.GetFromJsonAsync<JsonElement>("/openapi/v1.json");

        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Contains("no-such-kb", (await unknown.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("detail").GetString());
        var paths = openApi.GetProperty("paths");
        Assert.True(paths.TryGetProperty("/stats", out _));
        Assert.True(paths.TryGetProperty("/kbs/{kb}/stats", out var kbStats));
        Assert.Equal("GetKbStats", kbStats.GetProperty("get").GetProperty("operationId").GetString());
        Assert.True(paths.TryGetProperty("/dashboard", out _));
    }

    [Fact]
    public async Task The_dashboard_is_one_self_contained_html_page_the_root_redirects_to_it_and_an_anonymous_visitor_is_sent_to_sign_in()
    {
        using var noRedirects = _api.Client(_sandbox.AdminToken, followRedirects: false);
        using var anonymous = _api.Client(bearerToken: null, followRedirects: false);

        var root = await noRedirects.GetAsync("/");
        var dashboard = await _api.Http.GetAsync("/dashboard");
        var signInFirst = await anonymous.GetAsync("/dashboard?kb=api-kb");

        Assert.Equal(HttpStatusCode.Redirect, root.StatusCode);
        Assert.Equal("/dashboard", root.Headers.Location!.OriginalString);
        Assert.Equal(HttpStatusCode.Redirect, signInFirst.StatusCode);
        Assert.Equal("/signin?returnUrl=%2Fdashboard%3Fkb%3Dapi-kb", signInFirst.Headers.Location!.PathAndQuery);
        Assert.Equal(HttpStatusCode.OK, dashboard.StatusCode);
        Assert.Equal("text/html", dashboard.Content.Headers.ContentType!.MediaType);
        var html = await dashboard.Content.ReadAsStringAsync();
        Assert.Contains("id=\"chart-waits\"", html);
        Assert.DoesNotContain("http://", html.Replace("http://www.w3.org/2000/svg", ""));
        Assert.DoesNotContain("https://", html);
        Assert.DoesNotContain(".innerHTML", html);
        Assert.DoesNotContain(".outerHTML", html);
        Assert.DoesNotContain("insertAdjacentHTML", html);
        Assert.DoesNotContain("document.write", html);
        var policy = dashboard.Headers.GetValues("Content-Security-Policy").Single();
        Assert.Contains("default-src 'none'", policy);
        Assert.Contains("script-src 'sha256-", policy);
    }

    /// <summary>Three operations of stats-kb in [T, T + 6 h) and one of other-kb, with known waits.</summary>
    private async Task SeedStatsHistoryAsync()
    {
        await _sandbox.RegisterKbAsync("stats-kb", remote: null);
        await _sandbox.RegisterKbAsync("other-kb", remote: null);
        await HistoryRows.SaveAsync(_sandbox.Database,
        [
            HistoryRows.Finished("stats-kb", "alice", OperationStatus.Succeeded, T.AddMinutes(10), queueWaitMs: 100, lockWaitMs: 0),
            HistoryRows.Finished("stats-kb", "bob", OperationStatus.Failed, T.AddMinutes(20), queueWaitMs: 200, lockWaitMs: 50, error: "boom"),
            HistoryRows.Finished("stats-kb", "alice", OperationStatus.Succeeded, T.AddHours(2), queueWaitMs: 400, lockWaitMs: 1000),
            HistoryRows.Finished("other-kb", "carol", OperationStatus.Succeeded, T.AddHours(7), queueWaitMs: 9000, lockWaitMs: 0),
        ]);
    }
}

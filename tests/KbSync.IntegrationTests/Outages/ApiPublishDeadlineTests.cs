using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using KbSync.IntegrationTests.Fixtures;

namespace KbSync.IntegrationTests.Outages;

/// <summary>
/// RabbitMQ stops answering the API (its connections go through a <see cref="TcpProxy"/> that is paused):
/// a <c>POST</c> answers <c>503</c> with problem details and <c>Retry-After</c> once its publish deadline
/// has passed, instead of holding the caller for as long as the broker is away; the same request sent
/// again with the same operation id once RabbitMQ is back is accepted.
/// </summary>
[Collection(ServicesCollection.Name)]
public sealed class ApiPublishDeadlineTests(RabbitMqService rabbit, PostgresService postgres) : IAsyncLifetime
{
    private const string Kb = "deadline-kb";
    private KbSyncSandbox _sandbox = null!;
    private TcpProxy _proxy = null!;
    private ApiProcess _api = null!;

    public async Task InitializeAsync()
    {
        _sandbox = await KbSyncSandbox.CreateAsync(rabbit, postgres);
        await _sandbox.RegisterKbsWithRemotesAsync([Kb]);
        _proxy = TcpProxy.Start(rabbit.Host, rabbit.Port);
        var environment = _sandbox.Environment();
        environment["RabbitMq__Host"] = "127.0.0.1";
        environment["RabbitMq__Port"] = _proxy.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        _api = await CliRunner.StartApiAsync(environment, _sandbox.AdminToken);
    }

    public async Task DisposeAsync()
    {
        await _api.DisposeAsync();
        await _sandbox.DisposeAsync();
        await _proxy.DisposeAsync();
    }

    [Fact]
    public async Task A_post_while_rabbitmq_does_not_answer_gets_503_after_its_deadline_and_the_same_request_is_accepted_later()
    {
        var operationId = Guid.NewGuid();
        var body = new { requestedBy = "alice", text = "written while the broker was away", operationId };
        Assert.Equal(HttpStatusCode.Accepted, (await _api.Http.PostAsJsonAsync($"/kbs/{Kb}/notes", new { requestedBy = "alice", text = "before" })).StatusCode);

        _proxy.Pause();
        var elapsed = Stopwatch.StartNew();
        using var refused = await _api.Http.PostAsJsonAsync($"/kbs/{Kb}/notes", body);
        elapsed.Stop();

        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
        Assert.Equal(TimeSpan.FromSeconds(5), refused.Headers.RetryAfter?.Delta);
        var problem = JsonDocument.Parse(await refused.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("RabbitMQ did not answer", problem.GetProperty("title").GetString());
        Assert.Contains("same operation id", problem.GetProperty("detail").GetString());
        Assert.InRange(elapsed.Elapsed, TimeSpan.FromSeconds(9), TimeSpan.FromSeconds(60)); // its 10 s deadline, not the caller's patience

        _proxy.Resume();
        using var accepted = await _api.Http.PostAsJsonAsync($"/kbs/{Kb}/notes", body);
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        Assert.Equal(operationId, JsonDocument.Parse(await accepted.Content.ReadAsStringAsync()).RootElement.GetProperty("operationId").GetGuid());
    }
}

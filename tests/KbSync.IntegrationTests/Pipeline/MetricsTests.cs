using KbSync.Contracts;
using KbSync.IntegrationTests.Fixtures;

namespace KbSync.IntegrationTests.Pipeline;

/// <summary>
/// Worker and API expose OpenTelemetry metrics for Prometheus, with KbSync's own instruments and
/// MassTransit's; the API only on its metrics listener (its labels name every KB), never on the API's.
/// </summary>
[Collection(ServicesCollection.Name)]
public sealed class MetricsTests(RabbitMqService rabbit, PostgresService postgres) : IAsyncLifetime
{
    private KbSyncSandbox _sandbox = null!;
    private string _workerMetrics = null!;
    private GitRemote _remote = null!;

    public async Task InitializeAsync()
    {
        _sandbox = await KbSyncSandbox.CreateAsync(rabbit, postgres);
        _remote = _sandbox.CreateRemote("metered");
        await _sandbox.RegisterKbAsync("metered", _remote.Path);
        _workerMetrics = $"http://127.0.0.1:{FreePorts.Loopback()}";
        await _sandbox.StartWorkerAsync("w1", new Dictionary<string, string> { ["KbWorker__MetricsUrl"] = _workerMetrics });
    }

    public async Task DisposeAsync() => await _sandbox.DisposeAsync();

    [Fact]
    public async Task Operation_durations_waits_failures_pushes_replays_owned_partitions_and_queue_depth_are_scraped_and_the_api_serves_them_only_on_its_metrics_listener()
    {
        await using var producer = await _sandbox.StartProducerAsync();
        await _sandbox.WaitForOperationAsync(await producer.Client.SubmitNoteAsync("metered", "alice", new NoteContent("counted")));
        await _sandbox.WaitForOperationAsync(await producer.Client.SubmitNoteAsync("unregistered", "alice", new NoteContent("fails")));
        using var holder = await LockHolder.HoldAsync(_sandbox.Folder.Combine("workers", "w1", "locks", "metered.lock"));
        var waiting = await producer.Client.SubmitNoteAsync("metered", "bob", new NoteContent("waits for the lock"));
        await new ForeignWriter(_remote.Path, _sandbox.Folder.Combine("foreign")).WriteAsync(1, TimeSpan.Zero); // so its push is refused once, and replayed
        await using var api = await CliRunner.StartApiAsync(_sandbox.Environment(), _sandbox.AdminToken);
        using var http = new HttpClient();

        var worker = await http.GetStringAsync($"{_workerMetrics}/metrics");
        var served = "";
        for (var tries = 0; tries < 40 && !served.Contains("metered"); tries++)
        {
            await Task.Delay(500);
            served = await http.GetStringAsync(new Uri(api.MetricsUrl, "/metrics")); // no token: the listener is loopback only
        }

        using var anonymous = api.Client(bearerToken: null);
        var publicAnonymous = await anonymous.GetAsync("/metrics");
        var publicAdmin = await api.Http.GetAsync("/metrics");
        var metricsListenerApi = await http.GetAsync(new Uri(api.MetricsUrl, "/kbs"));

        holder.Kill();
        await _sandbox.WaitForOperationAsync(waiting);
        var afterReplay = await http.GetStringAsync($"{_workerMetrics}/metrics");

        Assert.Contains("kbsync_operation_duration_milliseconds_bucket{", worker);
        Assert.Contains("kb=\"metered\"", worker);
        Assert.Contains("kbsync_operation_queue_wait_milliseconds_count{", worker);
        Assert.Contains("kbsync_operation_lock_wait_milliseconds_count{", worker);
        Assert.Contains("kbsync_operation_failures_total{", worker);
        Assert.Contains($"reason=\"{ReasonCodes.UnknownKb}\"", worker);
        Assert.Contains("messaging_masstransit_", worker);
        Assert.Matches("kbsync_push_attempts_total\\{[^}]*kb=\"metered\"[^}]*outcome=\"pushed\"[^}]*\\} 1(\\s|$)", worker);
        Assert.Matches($"kbsync_partitions_owned\\{{[^}}]*worker=\"w1\"[^}}]*\\}} {_sandbox.Partitions}(\\s|$)", worker);
        Assert.Matches("kbsync_push_attempts_total\\{[^}]*kb=\"metered\"[^}]*outcome=\"non_fast_forward\"[^}]*\\} 1(\\s|$)", afterReplay);
        Assert.Matches("kbsync_push_replays_total\\{[^}]*kb=\"metered\"[^}]*reason=\"non_fast_forward\"[^}]*\\} 1(\\s|$)", afterReplay);
        Assert.Matches("kbsync_push_attempts_total\\{[^}]*kb=\"metered\"[^}]*outcome=\"pushed\"[^}]*\\} 2(\\s|$)", afterReplay);
        Assert.Matches("kbsync_queue_depth\\{[^}]*kb=\"metered\"[^}]*\\} 1", served);
        Assert.Matches("kbsync_queue_oldest_wait_seconds\\{[^}]*kb=\"metered\"[^}]*\\} [0-9]", served);
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, publicAnonymous.StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.NotFound, publicAdmin.StatusCode);
        Assert.DoesNotContain("metered", await publicAdmin.Content.ReadAsStringAsync());
        Assert.Equal(System.Net.HttpStatusCode.NotFound, metricsListenerApi.StatusCode);
    }
}

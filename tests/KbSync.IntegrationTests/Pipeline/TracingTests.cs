using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using KbSync.IntegrationTests.Fixtures;

namespace KbSync.IntegrationTests.Pipeline;

/// <summary>
/// One trace per operation, from the producer's publish through the worker's steps: a real worker and
/// a real <c>kbsync api</c> (or CLI) with OpenTelemetry's console exporter (<c>OTEL_TRACES_EXPORTER=console</c>,
/// the same setup that exports over OTLP), and the spans read back from what each process printed.
/// </summary>
[Collection(ServicesCollection.Name)]
public sealed partial class TracingTests(RabbitMqService rabbit, PostgresService postgres) : IAsyncLifetime
{
    private const string Kb = "traced";
    private static readonly string[] WorkerSteps = ["kbsync.lock", "kbsync.pull", "kbsync.process", "kbsync.commit", "kbsync.push", "kbsync.record"];

    private KbSyncSandbox _sandbox = null!;
    private WorkerProcess _worker = null!;
    private Dictionary<string, string> _traced = null!;

    public async Task InitializeAsync()
    {
        _sandbox = await KbSyncSandbox.CreateAsync(rabbit, postgres);
        await _sandbox.RegisterKbAsync(Kb, _sandbox.CreateRemote(Kb).Path);
        _traced = new Dictionary<string, string>(_sandbox.Environment()) { ["OTEL_TRACES_EXPORTER"] = "console" };
        _worker = await _sandbox.StartWorkerAsync("w1", new Dictionary<string, string> { ["OTEL_TRACES_EXPORTER"] = "console" });
    }

    public async Task DisposeAsync() => await _sandbox.DisposeAsync();

    [Fact]
    public async Task A_note_posted_over_http_is_one_trace_from_the_request_and_its_publish_through_every_step_of_the_worker()
    {
        await using var api = await CliRunner.StartApiAsync(_traced, _sandbox.AdminToken);
        var traceId = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray());
        var callerSpan = Convert.ToHexStringLower(BitConverter.GetBytes(Random.Shared.NextInt64()));
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/kbs/{Kb}/notes") { Content = JsonContent.Create(new { requestedBy = "tracer", text = "Followed end to end." }) };
        request.Headers.Add("traceparent", $"00-{traceId}-{callerSpan}-01");

        var posted = await api.Http.SendAsync(request);
        var operationId = (await posted.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("operationId").GetGuid();
        Assert.Equal("succeeded", (await _sandbox.WaitForOperationAsync(operationId)).Status.ToString().ToLowerInvariant());

        var spans = await SpansAsync(traceId, () => api.Output + "\n" + _worker.Output, callerSpan);
        var apiSpans = Parse(api.Output).Where(s => s.TraceId == traceId).ToList();
        Assert.Contains(apiSpans, s => s.Kind == "Server" && s.ParentId == callerSpan); // ASP.NET Core's span of the request, under the caller's
        Assert.Contains(apiSpans, s => s.Kind == "Producer"); // the client's send of the request
        AssertOneTree(spans, root: callerSpan, operationId);
    }

    [Fact]
    public async Task A_note_published_by_the_cli_is_one_trace_from_its_send_through_every_step_of_the_worker()
    {
        var note = await CliRunner.RunAsync(_traced, "note", Kb, "--user", "tracer", "Traced from a terminal.");

        Assert.True(note.ExitCode == 0, note.ToString());
        var operationId = Guid.Parse(note.Output.Split('\n').Select(line => line.Trim()).First(line => Guid.TryParse(line, out _))); // the spans are printed too
        await _sandbox.WaitForOperationAsync(operationId);
        var send = Assert.Single(Parse(note.Output), s => s.Kind == "Producer");
        Assert.Null(send.ParentId); // the CLI's publish starts the trace

        var spans = await SpansAsync(send.TraceId, () => note.Output + "\n" + _worker.Output);
        AssertOneTree(spans, root: send.SpanId, operationId, rootIncluded: true);
    }

    /// <summary>Every worker step is in the trace, tagged with the operation, and every span hangs from <paramref name="root"/>.</summary>
    private static void AssertOneTree(List<Span> spans, string root, Guid operationId, bool rootIncluded = false)
    {
        foreach (var step in WorkerSteps)
        {
            // the commit's span is the clone's, inside the operation's process span (which the tree check below follows)
            Assert.True(spans.Any(s => s.Name == step && (step == "kbsync.commit" || s.Text.Contains($"kbsync.operation.id: {operationId}", StringComparison.Ordinal))),
                $"No {step} span of operation {operationId} in its trace; the trace has: {string.Join(", ", spans.Select(s => s.Name))}");
        }

        Assert.Contains(spans, s => s.Kind == "Consumer"); // MassTransit's receive in the worker
        var ids = spans.Select(s => s.SpanId).Append(root).ToHashSet();
        var loose = spans.Where(s => !(rootIncluded && s.SpanId == root) && (s.ParentId is null || !ids.Contains(s.ParentId))).ToList();
        Assert.True(loose.Count == 0, $"Spans outside the operation's tree: {string.Join(", ", loose.Select(s => $"{s.Name} (parent {s.ParentId})"))}");
    }

    /// <summary>
    /// The spans of <paramref name="traceId"/>, once the worker's record span (its last step) is printed and
    /// every span's parent with it: a span is printed when it ends, and MassTransit's receive span, the
    /// parent of the worker's, ends after them.
    /// </summary>
    private static async Task<List<Span>> SpansAsync(string traceId, Func<string> output, string? callerSpan = null)
    {
        for (var waited = 0; ; waited += 200)
        {
            var spans = Parse(output()).Where(s => s.TraceId == traceId).ToList();
            var ids = spans.Select(s => s.SpanId).ToHashSet();
            var parentsPrinted = spans.All(s => s.ParentId is null || s.ParentId == callerSpan || ids.Contains(s.ParentId));
            if ((spans.Any(s => s.Name == "kbsync.record") && parentsPrinted) || waited > 20_000)
            {
                return spans;
            }

            await Task.Delay(200);
        }
    }

    /// <summary>The spans OpenTelemetry's console exporter printed ("Activity.TraceId: …" blocks).</summary>
    private static IEnumerable<Span> Parse(string output) =>
        output.Split("Activity.TraceId:").Skip(1).Select(block => new Span(
            block.Trim().Split(null, 2)[0],
            Field(block, "SpanId")!,
            Field(block, "ParentSpanId"),
            Field(block, "DisplayName")!,
            Field(block, "Kind")!,
            block));

    private static string? Field(string block, string name) =>
        Regex.Match(block, $@"Activity\.{name}:\s+(.+)") is { Success: true } match ? match.Groups[1].Value.Trim() : null;

    private sealed record Span(string TraceId, string SpanId, string? ParentId, string Name, string Kind, string Text);
}

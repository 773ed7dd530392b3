using System.Text.Json;
using KbSync.Contracts;
using KbSync.IntegrationTests.Fixtures;
using KbSync.Persistence.Analytics.Rollups;
using KbSync.Persistence.Entities;
using Microsoft.EntityFrameworkCore;

namespace KbSync.IntegrationTests.History;

/// <summary><c>kbsync stats</c> and <c>kbsync db prune</c> as a user runs them, on history seeded in a real database.</summary>
[Collection(ServicesCollection.Name)]
public sealed class StatsAndPruneCliTests(RabbitMqService rabbit, PostgresService postgres) : IAsyncLifetime
{
    private static readonly DateTimeOffset Now = DateTimeOffset.UtcNow;
    private KbSyncSandbox _sandbox = null!;

    public async Task InitializeAsync()
    {
        _sandbox = await KbSyncSandbox.CreateAsync(rabbit, postgres);
        await _sandbox.RegisterKbAsync("stats-kb", remote: null);
    }

    public async Task DisposeAsync() => await _sandbox.DisposeAsync();

    private Task<CliResult> Kbsync(IReadOnlyDictionary<string, string>? extra, params string[] args)
    {
        var environment = _sandbox.Environment();
        foreach (var (name, value) in extra ?? new Dictionary<string, string>())
        {
            environment[name] = value;
        }

        return CliRunner.RunAsync(environment, args);
    }

    [Fact]
    public async Task Stats_for_a_kb_print_its_counts_and_wait_percentiles_as_a_table_and_as_json()
    {
        // queue waits 10, 20, ..., 100 ms and 1000 ms: p50 = 60 ms and p95 = 550 ms (linear interpolation), max 1000 ms
        var finished = Enumerable.Range(1, 10).Select(n => HistoryRows.Finished("stats-kb", $"user{n % 3}", OperationStatus.Succeeded, Now.AddMinutes(-30 - n), queueWaitMs: 10 * n)).ToList();
        await HistoryRows.SaveAsync(_sandbox.Database,
            [.. finished, HistoryRows.Finished("stats-kb", "eve", OperationStatus.Failed, Now.AddMinutes(-5), queueWaitMs: 1000), HistoryRows.Finished("other-kb", "zed", OperationStatus.Succeeded, Now.AddMinutes(-5), queueWaitMs: 5000)]);

        var json = await Kbsync(null, "stats", "--kb", "stats-kb", "--since", "2h", "--json");

        Assert.True(json.ExitCode == 0, json.ToString());
        var stats = JsonDocument.Parse(json.Output).RootElement;
        Assert.Equal(10, stats.GetProperty("statuses").GetProperty("succeeded").GetInt64());
        Assert.Equal(1, stats.GetProperty("statuses").GetProperty("failed").GetInt64());
        var queueWait = stats.GetProperty("waits").GetProperty("queueWait");
        Assert.Equal(11, queueWait.GetProperty("samples").GetInt64());
        // from the rollups: within their stated relative error by design; --exact: percentile_cont over the raw rows
        var waits = finished.Select(r => r.QueueWaitMs).Append(1000).ToList();
        var error = LogHistogram.RelativeError;
        Assert.Equal(HistoryRows.PercentileCont(waits, 0.5)!.Value, queueWait.GetProperty("p50Ms").GetDouble(), HistoryRows.PercentileCont(waits, 0.5)!.Value * error);
        Assert.Equal(HistoryRows.PercentileCont(waits, 0.95)!.Value, queueWait.GetProperty("p95Ms").GetDouble(), HistoryRows.PercentileCont(waits, 0.95)!.Value * error);
        Assert.Equal(1000, queueWait.GetProperty("maxMs").GetDouble(), 1000 * error);
        var exact = JsonDocument.Parse((await Kbsync(null, "stats", "--kb", "stats-kb", "--since", "2h", "--json", "--exact")).Output).RootElement
            .GetProperty("waits").GetProperty("queueWait");
        Assert.Equal(HistoryRows.PercentileCont(waits, 0.5)!.Value, exact.GetProperty("p50Ms").GetDouble(), 6);
        Assert.Equal(HistoryRows.PercentileCont(waits, 0.95)!.Value, exact.GetProperty("p95Ms").GetDouble(), 6);
        Assert.Equal(1000, exact.GetProperty("maxMs").GetDouble());

        var table = await Kbsync(null, "stats", "--kb", "stats-kb", "--since", "2h", "--exact"); // p50 exactly 60.0 ms
        Assert.True(table.ExitCode == 0, table.ToString());
        Assert.Contains("stats-kb", table.Output);
        Assert.Contains("10 succeeded, 0 duplicate, 1 failed", table.Output);
        Assert.Matches(@"Queue wait\s*│\s*11\s*│\s*60\.0 ms", table.Output);
    }

    [Fact]
    public async Task Stats_refuse_an_unknown_kb_and_a_range_that_is_not_one()
    {
        var unknown = await Kbsync(null, "stats", "--kb", "nobody-here");
        Assert.Equal(3, unknown.ExitCode);
        Assert.Contains("No KB named 'nobody-here'", unknown.Error);

        var backwards = await Kbsync(null, "stats", "--since", "1h", "--until", "2h");
        Assert.Equal(2, backwards.ExitCode);
        Assert.Contains("The range is empty", backwards.Error);

        var nonsense = await Kbsync(null, "stats", "--since", "last tuesday");
        Assert.Equal(2, nonsense.ExitCode);
        Assert.Contains("is not a time", nonsense.Error);
    }

    [Fact]
    public async Task Prune_deletes_finished_operations_older_than_the_retention_and_keeps_open_ones()
    {
        var old = Now.AddDays(-40);
        OperationRecord[] rows =
        [
            HistoryRows.Finished("stats-kb", "a", OperationStatus.Succeeded, old), HistoryRows.Finished("stats-kb", "a", OperationStatus.Failed, old),
            HistoryRows.Finished("stats-kb", "a", OperationStatus.Duplicate, old), HistoryRows.Finished("stats-kb", "a", OperationStatus.TimedOut, old),
            HistoryRows.Open("stats-kb", "a", OperationStatus.Queued, old), HistoryRows.Open("stats-kb", "a", OperationStatus.Running, old),
            HistoryRows.Finished("stats-kb", "b", OperationStatus.Succeeded, Now.AddDays(-10)), HistoryRows.Finished("stats-kb", "b", OperationStatus.Succeeded, Now.AddMinutes(-1)),
        ];
        await HistoryRows.SaveAsync(_sandbox.Database, rows);

        var unset = await Kbsync(null, "db", "prune");
        Assert.True(unset.ExitCode == 0, unset.ToString());
        Assert.Contains("Nothing pruned", unset.Output);
        Assert.Equal(8, await CountAsync());

        var configured = await Kbsync(new Dictionary<string, string> { ["History__RetentionDays"] = "30" }, "db", "prune");
        Assert.True(configured.ExitCode == 0, configured.ToString());
        Assert.Contains("Pruned 4 finished operation(s)", configured.Output);
        await using (var db = _sandbox.Database.CreateContext())
        {
            var left = await db.Operations.AsNoTracking().ToListAsync();
            Assert.Equal(rows.Skip(4).Select(r => r.Id).Order(), left.Select(r => r.Id).Order());
        }

        var explicitAge = await Kbsync(null, "db", "prune", "--older-than", "7d");
        Assert.Contains("Pruned 1 finished operation(s)", explicitAge.Output);
        Assert.Equal(3, await CountAsync());

        var bad = await Kbsync(null, "db", "prune", "--older-than", "soon");
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("is not a duration", bad.Error);
    }

    private async Task<int> CountAsync()
    {
        await using var db = _sandbox.Database.CreateContext();
        return await db.Operations.CountAsync();
    }
}

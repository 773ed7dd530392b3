using System.CommandLine;
using KbSync.Persistence.Analytics;
using KbSync.Persistence.KnowledgeBases;
using KbSync.Producer.Api;

namespace KbSync.Producer.Cli;

/// <summary><c>kbsync stats</c>: wait-time and contention analytics over a time range, per KB or overall.</summary>
internal static class StatsCommand
{
    public static Command Create()
    {
        var kb = new Option<string?>("--kb") { Description = "Only this KB (default: all KBs)." };
        var since = new Option<string?>("--since") { Description = "Start of the range: ISO 8601 time or an age (90m, 24h, 7d). Default: 24h before --until." };
        var until = new Option<string?>("--until") { Description = "End of the range (default: now): ISO 8601 time or an age." };
        var bucket = new Option<string?>("--bucket") { Description = "Bucket for the figures over time (5m, 1h, 1d; default: whichever of 1m, 5m, 15m, 30m, 1h, 3h, 6h, 12h and 1d gives nearest 48 buckets)." };
        var json = new Option<bool>("--json") { Description = "Print JSON (every bucket and requester)." };
        var exact = new Option<bool>("--exact") { Description = "Percentiles and maxima exactly (percentile_cont over the raw rows: seconds over millions of operations) instead of from the rollups (within 1 %)." };
        var command = new Command("stats", "Counts, waits (p50/p95/p99/max), step durations, throughput, queue depth and waits per requester.")
        {
            kb, since, until, bucket, json, exact,
        };
        command.SetAction((parse, cancellationToken) => KbSyncCli.RunAsync(async host =>
        {
            var query = StatsRequest.Parse(parse.GetValue(kb), parse.GetValue(since), parse.GetValue(until), parse.GetValue(bucket), DateTimeOffset.UtcNow);
            if (query.KbId is { } kbId && await host.Services.GetRequiredService<KbRegistry>().FindAsync(kbId, cancellationToken) is null)
            {
                Console.Error.WriteLine($"No KB named '{kbId}' is registered (kbsync kb list).");
                return 3;
            }

            var stats = await host.Services.GetRequiredService<OperationAnalytics>().GetAllAsync(query with { Exact = parse.GetValue(exact) }, cancellationToken: cancellationToken);
            Output.PrintStats(stats, parse.GetValue(json));
            return 0;
        }, cancellationToken));
        return command;
    }
}

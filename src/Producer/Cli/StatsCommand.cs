using System.CommandLine;
using KbSync.Persistence.Analytics;
using KbSync.Persistence.KnowledgeBases;

namespace KbSync.Producer.Cli;

/// <summary><c>kbsync stats</c>: wait-time and contention analytics over a time range, per KB or overall.</summary>
internal static class StatsCommand
{
    public static Command Create()
    {
        var kb = new Option<string?>("--kb") { Description = "Only this KB (default: all KBs)." };
        var since = new Option<string>("--since") { Description = "Start of the range: ISO 8601 time or an age (90m, 24h, 7d).", DefaultValueFactory = _ => "24h" };
        var until = new Option<string?>("--until") { Description = "End of the range (default: now): ISO 8601 time or an age." };
        var bucket = new Option<string?>("--bucket") { Description = "Throughput bucket (5m, 1h, 1d; default: chosen from the range)." };
        var json = new Option<bool>("--json") { Description = "Print JSON (every bucket and requester)." };
        var command = new Command("stats", "Counts, waits (p50/p95/p99/max), step durations, throughput, queue depth and waits per requester.")
        {
            kb, since, until, bucket, json,
        };
        command.SetAction((parse, cancellationToken) => KbSyncCli.RunAsync(async host =>
        {
            var now = DateTimeOffset.UtcNow;
            TimeSpan? size = null;
            if (parse.GetValue(bucket) is { } text)
            {
                size = TimeArgument.TryParseAge(text) ?? throw new ArgumentException($"--bucket '{text}' is not a duration such as 5m, 1h or 1d.");
            }

            var query = new AnalyticsQuery(
                parse.GetValue(kb),
                TimeArgument.Parse(parse.GetValue(since)!, now, "--since"),
                parse.GetValue(until) is { } end ? TimeArgument.Parse(end, now, "--until") : now,
                size);
            if (query.KbId is { } kbId && await host.Services.GetRequiredService<KbRegistry>().FindAsync(kbId, cancellationToken) is null)
            {
                Console.Error.WriteLine($"No KB named '{kbId}' is registered (kbsync kb list).");
                return 3;
            }

            var stats = await host.Services.GetRequiredService<OperationAnalytics>().GetAllAsync(query, cancellationToken: cancellationToken);
            Output.PrintStats(stats, parse.GetValue(json));
            return 0;
        }, cancellationToken));
        return command;
    }
}

using System.Globalization;
using System.Text.Json;
using KbSync.Contracts;
using KbSync.Persistence.Analytics;
using KbSync.Persistence.Entities;
using KbSync.Persistence.History;
using KbSync.Producer.Client;
using Spectre.Console;

namespace KbSync.Producer.Cli;

/// <summary>How the CLI shows operations: tables for people, JSON with <c>--json</c>.</summary>
internal static class Output
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public static int PrintResult(OperationResult result)
    {
        switch (result.Status)
        {
            case OperationStatus.Succeeded when result.Agent is { } agent:
                Console.WriteLine(result.CommitSha is null ? "succeeded: no commit" : $"succeeded: commit {result.CommitSha[..Math.Min(12, result.CommitSha.Length)]}");
                PrintAgent(agent);
                return 0;
            case OperationStatus.Succeeded:
                Console.WriteLine($"succeeded: {result.NotePath} in commit {result.CommitSha?[..Math.Min(12, result.CommitSha.Length)]}");
                return 0;
            case OperationStatus.Duplicate:
                Console.WriteLine("duplicate: the same text is already saved in this KB; nothing was committed");
                return 0;
            default:
                Console.WriteLine($"{result.Status.ToWireName()}: {result.ReasonCode}: {result.Message}");
                return 1;
        }
    }

    public static void PrintAgent(AgentResult agent)
    {
        Console.WriteLine(agent.Summary);
        foreach (var (label, paths) in new[] { ("created", agent.Created), ("edited", agent.Edited), ("deleted", agent.Deleted) })
        {
            foreach (var path in paths)
            {
                Console.WriteLine($"  {label}: {path}");
            }
        }

        foreach (var move in agent.Moved)
        {
            Console.WriteLine($"  moved: {move.From} -> {move.To}");
        }

        foreach (var output in agent.Outputs)
        {
            Console.WriteLine($"--- {output.Index}. {output.Op}{(output.Sha256 is null ? "" : $" (sha256 {output.Sha256})")} ---");
            Console.WriteLine(output.Output);
        }
    }

    /// <summary>One line on where an open operation is: its place in the KB's queue, or the step it runs.</summary>
    public static string Progress(OperationRecord operation, int? position) => operation.Status switch
    {
        OperationStatus.Queued => $"#{position} in queue for {operation.KbId}",
        OperationStatus.Running => $"running for {operation.KbId}: {operation.Step switch { "lock" => "waiting for the KB lock", "pull" => "pulling", "process" => "writing", "push" => "pushing", _ => "working" }}",
        _ => operation.Status.ToWireName(),
    };

    public static void PrintOperation(OperationRecord operation, bool json, int? position = null, PartitionPause? pause = null)
    {
        if (json)
        {
            // the history row's fields, plus the queue position and the partition's pause while it is open (as GET /operations/{id} has them)
            var node = JsonSerializer.SerializeToNode(operation, Json)!.AsObject();
            node["queuePosition"] = operation.Status.IsFinal() ? null : position;
            node["paused"] = operation.Status.IsFinal() || pause is null ? null : JsonSerializer.SerializeToNode(pause, Json);
            Console.WriteLine(node.ToJsonString(Json));
            return;
        }

        var grid = new Grid().AddColumn().AddColumn();
        void Row(string name, object? value)
        {
            if (value is not null)
            {
                grid.AddRow(name, Markup.Escape(Convert.ToString(value, CultureInfo.InvariantCulture) ?? ""));
            }
        }

        Row("Operation", operation.Id);
        Row("KB", operation.KbId);
        Row("Kind", operation.Kind.ToWireName());
        Row("Status", operation.Status.IsFinal() ? operation.Status.ToWireName() : Progress(operation, position));
        Row("Partition", operation.Status.IsFinal() || pause is null ? null : Paused(pause));
        Row("Requested by", operation.RequestedBy);
        Row("Requested at", operation.RequestedAt.ToString("O"));
        Row("Started at", operation.StartedAt?.ToString("O"));
        Row("Finished at", operation.FinishedAt?.ToString("O"));
        Row("Title", operation.Title);
        Row("Note", operation.NotePath);
        Row("Commit", operation.CommitSha);
        Row("Pushed", operation.Pushed switch
        {
            true => "yes",
            false => "no: the KB has no remote, the commit stays in the worker's clone",
            null => null,
        });
        Row("Error", operation.ErrorCode is null ? null : $"{operation.ErrorCode}: {operation.ErrorMessage}");
        Row("Worker", operation.WorkerId);
        Row("Attempts", operation.Attempts);
        Row("Queue wait", Ms(operation.QueueWaitMs));
        Row("Lock wait", Ms(operation.LockWaitMs));
        Row("Pull / process / commit / push",
            operation.FinishedAt is null ? null : $"{Ms(operation.PullMs)} / {Ms(operation.ProcessMs)} / {Ms(operation.CommitMs)} / {Ms(operation.PushMs)}");
        AnsiConsole.Write(grid);
        if (operation.ResultJson is not null && JsonSerializer.Deserialize<AgentResult>(operation.ResultJson, Json) is { } agent)
        {
            PrintAgent(agent);
        }
    }

    /// <summary>Why an open operation is not moving: its partition waits for a retry (a service down, or a failure under the backstop).</summary>
    public static string Paused(PartitionPause pause) =>
        $"{pause.Partition} paused since {pause.Since:yyyy-MM-dd HH:mm:ss} UTC (worker {pause.WorkerId}, KB {pause.KbId}, attempt {pause.Attempts}): {pause.Reason}";

    public static void PrintHistory(IReadOnlyList<OperationRecord> operations, bool json)
    {
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(operations, Json));
            return;
        }

        var table = new Table().AddColumns("Requested at", "KB", "Kind", "By", "Status", "Queue wait", "Lock wait", "Pull", "Push", "Result");
        foreach (var o in operations)
        {
            table.AddRow(
                o.RequestedAt.ToString("yyyy-MM-dd HH:mm:ss.fff", CultureInfo.InvariantCulture),
                Markup.Escape(o.KbId),
                o.Kind.ToWireName(),
                Markup.Escape(o.RequestedBy),
                o.Status.ToWireName(),
                Ms(o.QueueWaitMs) ?? "",
                Ms(o.LockWaitMs) ?? "",
                Ms(o.PullMs) ?? "",
                Ms(o.PushMs) ?? "",
                Markup.Escape(o.ErrorCode is null ? o.NotePath ?? "" : $"{o.ErrorCode}: {o.ErrorMessage}"));
        }

        AnsiConsole.Write(table);
    }

    public static void PrintStats(KbStats stats, bool json)
    {
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(stats, Json));
            return;
        }

        var s = stats.Statuses;
        AnsiConsole.MarkupLine($"[bold]{Markup.Escape(stats.KbId ?? "All KBs")}[/], requested from {Time(stats.Since)} to {Time(stats.Until)} UTC");
        AnsiConsole.WriteLine(
            $"{s.Succeeded} succeeded, {s.Duplicate} duplicate, {s.Failed} failed, {s.TimedOut} timed out, {s.Running} running, {s.Queued} queued");

        var waits = new Table().AddColumns("Wait", "Samples", "p50", "p95", "p99", "Max");
        foreach (var (name, w) in new[] { ("Queue wait", stats.Waits.QueueWait), ("Lock wait", stats.Waits.LockWait) })
        {
            waits.AddRow(name, w.Samples.ToString(CultureInfo.InvariantCulture), Ms(w.P50Ms) ?? "-", Ms(w.P95Ms) ?? "-", Ms(w.P99Ms) ?? "-", Ms(w.MaxMs) ?? "-");
        }

        foreach (var (name, step) in new[] { ("Pull", stats.Steps.Pull), ("Process", stats.Steps.Process), ("Commit", stats.Steps.Commit), ("Push", stats.Steps.Push) })
        {
            waits.AddRow($"{name} step", step.Samples.ToString(CultureInfo.InvariantCulture), Ms(step.P50Ms) ?? "-", Ms(step.P95Ms) ?? "-", "", "");
        }

        AnsiConsole.Write(waits);

        var q = stats.Queue;
        var busiest = stats.Throughput.MaxBy(b => b.Finished);
        AnsiConsole.WriteLine(
            $"Queue depth: peak {q.PeakDepth}{(q.PeakAt is { } at ? $" at {Time(at)}" : "")}, mean {q.MeanDepth:0.00}. " +
            $"Finished: {stats.Throughput.Sum(b => b.Finished)}" +
            (busiest is { Finished: > 0 } ? $", at most {busiest.Finished} in one {Duration(stats.Bucket)} bucket (from {Time(busiest.Start)})." : "."));

        if (stats.Requesters.Count > 0)
        {
            var requesters = new Table().AddColumns("Requester", "Operations", "Queue wait p50", "Queue wait p95", "Lock wait p50");
            foreach (var r in stats.Requesters)
            {
                requesters.AddRow(Markup.Escape(r.RequestedBy), r.Operations.ToString(CultureInfo.InvariantCulture), Ms(r.QueueWaitP50Ms) ?? "-", Ms(r.QueueWaitP95Ms) ?? "-", Ms(r.LockWaitP50Ms) ?? "-");
            }

            AnsiConsole.Write(requesters);
        }
    }

    private static string Duration(TimeSpan span) =>
        span.TotalDays >= 1 && span.Ticks % TimeSpan.TicksPerDay == 0 ? $"{span.TotalDays:0}d"
        : span.TotalHours >= 1 && span.Ticks % TimeSpan.TicksPerHour == 0 ? $"{span.TotalHours:0}h"
        : span.Ticks % TimeSpan.TicksPerMinute == 0 ? $"{span.TotalMinutes:0}m"
        : $"{span.TotalSeconds:0}s";

    private static string Time(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);

    private static string? Ms(double? milliseconds) =>
        milliseconds switch
        {
            null => null,
            >= 60_000 and var ms => $"{ms / 60_000:0.0} min",
            >= 1000 and var ms => $"{ms / 1000:0.00} s",
            var ms => $"{ms:0.0} ms",
        };
}

using System.Globalization;
using System.Text.Json;
using KbSync.Contracts;
using KbSync.Persistence.Entities;
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

    public static void PrintOperation(OperationRecord operation, bool json, int? position = null)
    {
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(operation, Json));
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

    private static string? Ms(double? milliseconds) =>
        milliseconds is { } ms ? (ms >= 1000 ? $"{ms / 1000:0.00} s" : $"{ms:0.0} ms") : null;
}

using System.CommandLine;
using KbSync.Contracts;
using KbSync.Persistence.History;
using KbSync.Producer.Api;
using Microsoft.Extensions.Options;

namespace KbSync.Producer.Cli;

/// <summary><c>kbsync status &lt;id&gt;</c> and <c>kbsync history</c>: read the operations history.</summary>
internal static class HistoryCommands
{
    public static Command Status()
    {
        var id = new Argument<Guid>("operation-id") { Description = "The id printed when the request was published." };
        var json = new Option<bool>("--json") { Description = "Print JSON." };
        var command = new Command("status", "Show one operation.") { id, json };
        command.SetAction((parse, cancellationToken) => KbSyncCli.RunAsync(async host =>
        {
            var history = host.Services.GetRequiredService<OperationHistory>();
            var operation = await history.GetAsync(parse.GetValue(id), cancellationToken);
            if (operation is null)
            {
                Console.Error.WriteLine($"No operation {parse.GetValue(id)} in the history: it is not published, or neither a worker nor the API has recorded it yet (they read the queue tap).");
                return 3;
            }

            var partitions = host.Services.GetRequiredService<IOptions<RabbitMqOptions>>().Value.Partitions;
            var pause = operation.Status.IsFinal() ? null : await history.PauseOfAsync(operation.KbId, partitions, cancellationToken);
            Output.PrintOperation(operation, parse.GetValue(json), await history.QueuePositionAsync(operation, partitions, cancellationToken), pause);
            return 0;
        }, cancellationToken));
        return command;
    }

    public static Command History()
    {
        var kb = new Option<string?>("--kb") { Description = "Only this KB." };
        var user = new Option<string?>("--user") { Description = "Only this requester." };
        var status = new Option<string?>("--status") { Description = "Only this status: queued, running, succeeded, duplicate, failed, timed_out." };
        var kind = new Option<string?>("--kind") { Description = "Only this kind: note or agent." };
        var since = new Option<string?>("--since") { Description = "Requested at or after this time: ISO 8601 or an age (90m, 24h, 7d)." };
        var until = new Option<string?>("--until") { Description = "Requested before this time: ISO 8601 or an age (90m, 24h, 7d)." };
        var limit = new Option<int>("--limit") { Description = $"At most this many, newest first (1 to {HistoryQuery.MaxLimit}).", DefaultValueFactory = _ => HistoryQuery.DefaultLimit };
        var json = new Option<bool>("--json") { Description = "Print JSON." };
        var command = new Command("history", "List operations, newest first.") { kb, user, status, kind, since, until, limit, json };
        command.SetAction((parse, cancellationToken) => KbSyncCli.RunAsync(async host =>
        {
            OperationStatus? wanted = null;
            if (parse.GetValue(status) is { } name)
            {
                wanted = OperationEnumNames.TryParseStatus(name, out var parsed)
                    ? parsed
                    : throw new ArgumentException($"--status '{name}' is not a status: use queued, running, succeeded, duplicate, failed or timed_out.");
            }

            if (parse.GetValue(limit) is < 1 or > HistoryQuery.MaxLimit)
            {
                throw new ArgumentException($"--limit must be between 1 and {HistoryQuery.MaxLimit}.");
            }

            OperationKind? wantedKind = parse.GetValue(kind) switch
            {
                null => null,
                "note" => OperationKind.Note,
                "agent" => OperationKind.Agent,
                var other => throw new ArgumentException($"--kind '{other}' is not a kind: use note or agent."),
            };
            var now = DateTimeOffset.UtcNow;
            var query = new HistoryQuery(ApiArguments.Kb(parse.GetValue(kb), "--kb"), ApiArguments.Requester(parse.GetValue(user), "--user"), wanted, parse.GetValue(limit), wantedKind,
                ApiArguments.Time(parse.GetValue(since), "--since", now), ApiArguments.Time(parse.GetValue(until), "--until", now));
            var operations = await host.Services.GetRequiredService<OperationHistory>().ListAsync(query, cancellationToken);
            Output.PrintHistory(operations, parse.GetValue(json));
            return 0;
        }, cancellationToken));
        return command;
    }
}

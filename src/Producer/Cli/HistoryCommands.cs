using System.CommandLine;
using KbSync.Contracts;
using KbSync.Persistence.History;

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
            var operation = await host.Services.GetRequiredService<OperationHistory>().GetAsync(parse.GetValue(id), cancellationToken);
            if (operation is null)
            {
                Console.Error.WriteLine($"No operation {parse.GetValue(id)} in the history: it is not published, or no worker has taken it yet.");
                return 3;
            }

            Output.PrintOperation(operation, parse.GetValue(json));
            return 0;
        }, cancellationToken));
        return command;
    }

    public static Command History()
    {
        var kb = new Option<string?>("--kb") { Description = "Only this KB." };
        var user = new Option<string?>("--user") { Description = "Only this requester." };
        var status = new Option<string?>("--status") { Description = "Only this status: queued, running, succeeded, duplicate, failed, timed_out." };
        var limit = new Option<int>("--limit") { Description = $"At most this many, newest first (1 to {HistoryQuery.MaxLimit}).", DefaultValueFactory = _ => HistoryQuery.DefaultLimit };
        var json = new Option<bool>("--json") { Description = "Print JSON." };
        var command = new Command("history", "List operations, newest first.") { kb, user, status, limit, json };
        command.SetAction((parse, cancellationToken) => KbSyncCli.RunAsync(async host =>
        {
            OperationStatus? wanted = null;
            if (parse.GetValue(status) is { } name)
            {
                wanted = OperationEnumNames.TryParseStatus(name, out var parsed)
                    ? parsed
                    : throw new ArgumentException($"'{name}' is not a status: use queued, running, succeeded, duplicate, failed or timed_out.");
            }

            if (parse.GetValue(limit) is < 1 or > HistoryQuery.MaxLimit)
            {
                throw new ArgumentException($"--limit must be between 1 and {HistoryQuery.MaxLimit}.");
            }

            var operations = await host.Services.GetRequiredService<OperationHistory>()
                .ListAsync(new HistoryQuery(parse.GetValue(kb), parse.GetValue(user), wanted, parse.GetValue(limit)), cancellationToken);
            Output.PrintHistory(operations, parse.GetValue(json));
            return 0;
        }, cancellationToken));
        return command;
    }
}

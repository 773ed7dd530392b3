using System.CommandLine;
using System.Text.Json;
using KbSync.Contracts;
using KbSync.Producer.Client;

namespace KbSync.Producer.Cli;

/// <summary><c>kbsync agent &lt;kb&gt; --user U [--agent NAME] [--ops ops.json] [--read-only] [--wait] "instruction"</c>.</summary>
internal static class AgentCommand
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static Command Create()
    {
        var kb = new Argument<string>("kb") { Description = "The KB id." };
        var instruction = new Argument<string>("instruction") { Description = "What to do. '-' reads it from standard input." };
        var user = new Option<string>("--user") { Description = "Who asks: becomes the commit author.", Required = true };
        var agent = new Option<string?>("--agent") { Description = "A configured external agent; default: the built-in files agent (needs --ops)." };
        var ops = new Option<FileInfo?>("--ops") { Description = "A JSON file with the files agent's operations: [{\"op\": \"create_file\", \"path\": ..., \"content\": ...}, ...]." };
        var readOnly = new Option<bool>("--read-only") { Description = "The task only reads: no lock, no commit." };
        var id = new Option<Guid?>("--id") { Description = "Operation id to use (default: a new one)." };
        var wait = new Option<bool>("--wait") { Description = "Wait for the result and show it." };
        var timeout = new Option<int>("--timeout") { Description = "Seconds --wait waits.", DefaultValueFactory = _ => 900 };
        CliErrors.RequirePositive(timeout);
        var command = new Command("agent", "Run an agent task on a KB.") { kb, instruction, user, agent, ops, readOnly, id, wait, timeout };
        command.SetAction((parse, cancellationToken) => KbSyncCli.PublishAsync(async host =>
        {
            var kbId = KbIds.Validate(parse.GetValue(kb));
            var text = parse.GetValue(instruction)!;
            if (text == "-")
            {
                text = await Console.In.ReadToEndAsync(cancellationToken);
            }

            var task = new AgentTaskContent(text, parse.GetValue(agent), await ReadOperationsAsync(parse.GetValue(ops), cancellationToken), parse.GetValue(readOnly));
            var operationId = parse.GetValue(id) ?? Guid.NewGuid();
            Api.ApiArguments.Requester(parse.GetValue(user), "--user"); // before the broker is reached
            var client = await host.StartMessagingAsync(cancellationToken);
            if (!parse.GetValue(wait))
            {
                await PublishDeadline.RunAsync(CliHost.PublishTimeout, deadline => client.SubmitAgentTaskAsync(kbId, parse.GetValue(user)!, task, operationId, deadline), cancellationToken);
                Console.WriteLine(operationId);
                return 0;
            }

            await using var watch = await client.WatchAsync(operationId, cancellationToken);
            await PublishDeadline.RunAsync(CliHost.PublishTimeout, deadline => client.SubmitAgentTaskAsync(kbId, parse.GetValue(user)!, task, operationId, deadline), cancellationToken);
            Console.Error.WriteLine($"Queued {operationId} for {kbId}; waiting for the result...");
            return await LiveProgress.WaitAsync(host, watch, operationId, TimeSpan.FromSeconds(parse.GetValue(timeout)), cancellationToken);
        }, cancellationToken));
        return command;
    }

    private static async Task<IReadOnlyList<FileOperation>?> ReadOperationsAsync(FileInfo? file, CancellationToken cancellationToken)
    {
        if (file is null)
        {
            return null;
        }

        if (!file.Exists)
        {
            throw new ArgumentException($"--ops: there is no file {file.FullName}.");
        }

        try
        {
            await using var stream = file.OpenRead();
            return await JsonSerializer.DeserializeAsync<List<FileOperation>>(stream, Json, cancellationToken)
                ?? throw new ArgumentException("--ops: the file holds no operations.");
        }
        catch (JsonException error)
        {
            throw new ArgumentException($"--ops: {file.Name} is not a JSON array of operations: {error.Message}");
        }
    }
}

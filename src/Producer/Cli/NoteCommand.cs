using System.CommandLine;
using KbSync.Contracts;
using KbSync.Producer.Client;

namespace KbSync.Producer.Cli;

/// <summary><c>kbsync note &lt;kb&gt; --user U [...] "text"</c>: publish a note request, optionally wait for its result.</summary>
internal static class NoteCommand
{
    public static Command Create()
    {
        var kb = new Argument<string>("kb") { Description = "The KB id." };
        var text = new Argument<string>("text") { Description = "The note (Markdown). '-' reads it from standard input." };
        var user = new Option<string>("--user") { Description = "Who asks: becomes the commit author.", Required = true };
        var title = new Option<string?>("--title") { Description = "Title; by default the text's first line." };
        var category = new Option<string?>("--category") { Description = "Folder under topics/, like ideas or tech/dotnet (default inbox)." };
        var tags = new Option<string?>("--tags") { Description = "Comma-separated tags." };
        var id = new Option<Guid?>("--id") { Description = "Operation id to use (default: a new one). Re-using one never makes a second commit." };
        var wait = new Option<bool>("--wait") { Description = "Wait for the result and show it." };
        var timeout = new Option<int>("--timeout") { Description = "Seconds --wait waits.", DefaultValueFactory = _ => 600 };
        CliErrors.RequirePositive(timeout);
        var command = new Command("note", "Add a note to a KB.") { kb, text, user, title, category, tags, id, wait, timeout };
        command.SetAction((parse, cancellationToken) => KbSyncCli.PublishAsync(async host =>
        {
            var body = parse.GetValue(text)!;
            if (body == "-")
            {
                body = await Console.In.ReadToEndAsync(cancellationToken);
            }

            var note = new NoteContent(body, parse.GetValue(title), parse.GetValue(category),
                parse.GetValue(tags)?.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries));
            var kbId = KbIds.Validate(parse.GetValue(kb));
            var operationId = parse.GetValue(id) ?? Guid.NewGuid();
            Api.ApiArguments.Requester(parse.GetValue(user), "--user"); // before the broker is reached
            var client = await host.StartMessagingAsync(cancellationToken);
            if (!parse.GetValue(wait))
            {
                await PublishDeadline.RunAsync(CliHost.PublishTimeout, deadline => client.SubmitNoteAsync(kbId, parse.GetValue(user)!, note, operationId, deadline), cancellationToken);
                Console.WriteLine(operationId);
                return 0;
            }

            await using var watch = await client.WatchAsync(operationId, cancellationToken);
            await PublishDeadline.RunAsync(CliHost.PublishTimeout, deadline => client.SubmitNoteAsync(kbId, parse.GetValue(user)!, note, operationId, deadline), cancellationToken);
            Console.Error.WriteLine($"Queued {operationId} for {kbId}; waiting for the result...");
            return await LiveProgress.WaitAsync(host, watch, operationId, TimeSpan.FromSeconds(parse.GetValue(timeout)), cancellationToken);
        }, cancellationToken));
        return command;
    }
}

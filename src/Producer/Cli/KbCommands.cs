using System.CommandLine;
using KbSync.Contracts;
using KbSync.Persistence.KnowledgeBases;
using Spectre.Console;

namespace KbSync.Producer.Cli;

/// <summary><c>kbsync kb add|list|protect</c>: the KB registry.</summary>
internal static class KbCommands
{
    public static Command Create()
    {
        var kb = new Command("kb", "Register and list knowledge bases.");
        kb.Subcommands.Add(Add());
        kb.Subcommands.Add(List());
        kb.Subcommands.Add(Protect());
        return kb;
    }

    private static Command Add()
    {
        var id = new Argument<string>("kb") { Description = "The KB id: a short lowercase slug, like team-notes." };
        var remote = new Option<string?>("--remote") { Description = "The KB's git repository: an https:// URL or an SSH address (ssh://host/path, git@host:path) on a host of Remotes__AllowedHosts, or a local path or file:// URL under Remotes__LocalRoot. Never with credentials in it. Leave out for a KB kept only in the workers' clones." };
        var branch = new Option<string>("--branch") { Description = "The branch KbSync writes to (a name git accepts).", DefaultValueFactory = _ => "main" };
        var tokenEnv = new Option<string?>("--token-env") { Description = "Name of the environment variable that holds the KB's HTTPS token or SSH deploy key (its private key) on the workers, never the secret itself; it must start with Remotes__TokenEnvPrefix (KBSYNC_TOKEN_ by default), and no other KB may name it." };
        var replace = new Option<bool>("--replace") { Description = "Change an already registered KB." };
        var command = new Command("add", "Register a KB.") { id, remote, branch, tokenEnv, replace };
        command.SetAction((parse, cancellationToken) => KbSyncCli.RunAsync(async host =>
        {
            var registry = host.Services.GetRequiredService<KbRegistry>();
            var record = await registry.AddAsync(new KbRegistration(parse.GetValue(id)!, parse.GetValue(remote), parse.GetValue(branch)!, parse.GetValue(tokenEnv)), parse.GetValue(replace), cancellationToken);
            Console.WriteLine($"Registered {record.Id}: remote {record.RemoteUrl ?? "(none: kept in the workers' clones)"}, branch {record.Branch}{(record.TokenEnv is null ? "" : $", token from ${record.TokenEnv}")}");
            return 0;
        }, cancellationToken));
        return command;
    }

    private static Command List()
    {
        var command = new Command("list", "List the registered KBs.");
        command.SetAction((_, cancellationToken) => KbSyncCli.RunAsync(async host =>
        {
            var kbs = await host.Services.GetRequiredService<KbRegistry>().ListAsync(cancellationToken);
            var table = new Table().AddColumns("KB", "Remote", "Branch", "Token variable", "Protected paths", "Registered");
            foreach (var kb in kbs)
            {
                var protectedPaths = kb.ProtectedPaths switch { null => "(defaults)", [] => "(none)", var list => string.Join(", ", list) };
                table.AddRow(Markup.Escape(kb.Id), Markup.Escape(kb.RemoteUrl ?? "(none)"), Markup.Escape(kb.Branch), Markup.Escape(kb.TokenEnv ?? ""), Markup.Escape(protectedPaths), kb.CreatedAt.ToString("u"));
            }

            AnsiConsole.Write(table);
            return 0;
        }, cancellationToken));
        return command;
    }

    /// <summary>
    /// <c>kbsync kb protect</c>: the paths of a KB only principals with <c>manage</c> may change through agent tasks
    /// (<see cref="ProtectedPathList"/>). Without options it prints the list in force.
    /// </summary>
    private static Command Protect()
    {
        var id = new Argument<string>("kb") { Description = "The KB id." };
        var add = new Option<string[]>("--add") { Description = "Protect a path from the KB's root ('docs/CODEOWNERS'), a folder ('.github/'), or a name in any folder ('**/.gitattributes'). Repeatable.", AllowMultipleArgumentsPerToken = false };
        var remove = new Option<string[]>("--remove") { Description = "Stop protecting a path of the list. Repeatable.", AllowMultipleArgumentsPerToken = false };
        var reset = new Option<bool>("--reset") { Description = "Start from KbSync's defaults (applied before --add and --remove)." };
        var command = new Command("protect", "Show or change the paths of a KB that only principals with the manage right may create, change or delete through agent tasks.") { id, add, remove, reset };
        command.SetAction((parse, cancellationToken) => KbSyncCli.RunAsync(async host =>
        {
            var registry = host.Services.GetRequiredService<KbRegistry>();
            var kbId = KbIds.Validate(parse.GetValue(id));
            var (adds, removes, fromDefaults) = (parse.GetValue(add) ?? [], parse.GetValue(remove) ?? [], parse.GetValue(reset));
            var record = adds.Length == 0 && removes.Length == 0 && !fromDefaults
                ? await registry.FindAsync(kbId, cancellationToken) ?? throw new KeyNotFoundException($"No KB '{kbId}' is registered.")
                : await registry.SetProtectedPathsAsync(kbId, current => ProtectedPathList.Edit(current, adds, removes, fromDefaults), cancellationToken);
            Console.WriteLine($"Protected paths of {record.Id}: {ProtectedPathList.Describe(record.ProtectedPaths)}");
            return 0;
        }, cancellationToken));
        return command;
    }
}

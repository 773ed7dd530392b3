using KbSync.Contracts;

namespace KbSync.KbWorker.Agents.Sandbox;

/// <summary>
/// Where one external agent run works: <c>&lt;data&gt;/agent-runs/&lt;kb&gt;/&lt;operation id&gt;</c> on the host,
/// holding <c>kb/</c> (the copy of the KB's tip), <c>home/</c> and <c>tmp/</c>. In the sandbox it is the only
/// writable folder and is seen at <see cref="InsideSandbox"/>, whatever the worker's data path, so nothing of
/// the host's layout (other KBs' clones beside it) is even named to the agent.
/// </summary>
public sealed class RunFolder
{
    /// <summary>Where the sandbox shows the run folder; <c>KBSYNC_KB_ROOT</c> is <c>/run/kbsync/kb</c> there.</summary>
    public const string InsideSandbox = "/run/kbsync";

    /// <summary>What KbSync puts in a run folder; anything else the agent leaves beside these is a write outside the KB.</summary>
    public static readonly IReadOnlyList<string> Entries = ["kb", "home", "tmp"];

    private RunFolder(string root) => Root = root;

    /// <summary>The run folder on the host.</summary>
    public string Root { get; }

    public string Kb => Path.Combine(Root, "kb");

    public string Home => Path.Combine(Root, "home");

    public string Tmp => Path.Combine(Root, "tmp");

    /// <summary>The folder of every run of a worker's data path; never shown to an agent.</summary>
    public static string RunsOf(string dataPath) => Path.Combine(dataPath, "agent-runs");

    /// <summary>
    /// A fresh, empty run folder for the operation (one left by a crashed run of it is removed first).
    /// Fails with <c>agent_failed</c>, not a retry, if a leftover cannot be removed.
    /// </summary>
    public static RunFolder Create(string dataPath, string kbId, Guid operationId) =>
        CreateAt(Path.Combine(RunsOf(dataPath), KbIds.Validate(kbId), operationId.ToString("N")));

    public static RunFolder CreateAt(string root)
    {
        var folder = new RunFolder(Path.GetFullPath(root));
        if (!folder.TryDelete(out var problem))
        {
            throw new AgentFailure(ReasonCodes.AgentFailed, $"The agent's run folder {folder.Root} is left from an earlier run and cannot be removed ({problem}); remove it by hand.");
        }

        foreach (var entry in Entries)
        {
            Directory.CreateDirectory(Path.Combine(folder.Root, entry));
        }

        return folder;
    }

    /// <summary>
    /// Removes the folder and everything in it without following a symlink, making each folder writable
    /// first (an agent may have taken the permissions away). False, with the reason, if something stays.
    /// </summary>
    public bool TryDelete(out string? problem)
    {
        problem = null;
        try
        {
            Remove(Root);
            return true;
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            problem = error.Message;
            return false;
        }
    }

    /// <summary>Depth first, with a stack of its own: an agent may nest folders thousands deep.</summary>
    private static void Remove(string root)
    {
        var pending = new Stack<(string Path, bool Emptied)>();
        pending.Push((root, false));
        while (pending.TryPop(out var item))
        {
            var metadata = FileMetadata.Of(item.Path);
            if (metadata is null)
            {
                continue;
            }

            if (metadata.Kind != FileKind.Directory)
            {
                File.Delete(item.Path);
            }
            else if (item.Emptied)
            {
                Directory.Delete(item.Path);
            }
            else
            {
                if (!OperatingSystem.IsWindows())
                {
                    File.SetUnixFileMode(item.Path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
                }

                pending.Push((item.Path, true));
                foreach (var entry in Directory.EnumerateFileSystemEntries(item.Path))
                {
                    pending.Push((entry, false));
                }
            }
        }
    }
}

using KbSync.Contracts;
using KbSync.KbWorker.Git;

namespace KbSync.KbWorker.Agents.Protection;

/// <summary>
/// The last look at an agent task's changes before they are committed, for the files agent and external agents
/// alike (it sees only the final changes: a move is a removal and a creation, a folder's deletion the removal of
/// each file in it). Two rules, in this order:
/// <list type="number">
/// <item>Without <c>manage</c> on the KB, no change may touch a protected path (<see cref="ProtectedPaths"/>):
/// <c>protected_path</c>, naming the paths, what protects them and the right needed.</item>
/// <item>Whoever asked, no file may be written that <c>git fsck</c> refuses (<see cref="GitFsckContent"/>):
/// <c>agent_refused</c>, naming the file and fsck's message.</item>
/// </list>
/// Either way nothing of the task is committed. Notes do not come here: the note writer writes only under
/// <c>topics/</c> and KbSync's own index, which it is there to keep.
/// </summary>
public static class ProtectedChanges
{
    private const int MaxNamed = 5;

    /// <exception cref="AgentFailure">A change is not allowed; nothing may be committed.</exception>
    public static void Check(IReadOnlyList<TreeChange> changes, ProtectedPaths protectedPaths, bool mayManage, string kbId)
    {
        if (!mayManage)
        {
            var touched = changes.Select(c => (c.Path, Entry: protectedPaths.ProtectingEntry(c.Path))).Where(c => c.Entry is not null).ToList();
            if (touched.Count > 0)
            {
                var named = string.Join(", ", touched.Take(MaxNamed).Select(t => $"{t.Path} (protected by \"{t.Entry}\")"));
                var more = touched.Count > MaxNamed ? $" and {touched.Count - MaxNamed} more" : "";
                throw new AgentFailure(
                    ReasonCodes.ProtectedPath,
                    $"The agent's changes were refused: they create, change or delete protected paths of KB '{kbId}': {named}{more}. "
                    + "Only a principal with the manage right on the KB may change those (or its list of protected paths: kbsync kb protect). Nothing was committed.");
            }
        }

        foreach (var change in changes.Where(c => c.Content is not null))
        {
            if (GitFsckContent.Problems(change.Path, change.Content!) is [_, ..] problems)
            {
                throw AgentFailure.Refused($"{change.Path} is a file git fsck refuses ({string.Join("; ", problems)}); remotes that check what they receive would refuse the KB's pushes.");
            }
        }
    }
}

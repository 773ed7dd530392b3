using KbSync.Contracts;
using KbSync.Persistence.KnowledgeBases;

namespace KbSync.KbWorker.Git;

/// <summary>
/// The registry's <see cref="RemoteRules"/>, applied again by the worker before it touches a KB's
/// remote (opening the clone, which may merge a local remote's packs, every fetch and every push):
/// the registry table can be written by other means than <c>kbsync kb add</c>, and a symlink under
/// <c>Remotes__LocalRoot</c> can be re-pointed after registration. A KB that breaks a rule fails with
/// <see cref="ReasonCodes.RemoteNotAllowed"/>, before anything is fetched or pushed.
/// </summary>
internal static class RemoteGate
{
    public static void Check(RemoteRules rules, KbRemote kb)
    {
        BranchName.Check(kb);
        try
        {
            // what RemoteRules.Check makes of a registered KB, on the git core's record of it (the branch is checked above)
            rules.CheckTokenEnv(kb.TokenEnv);
            if (kb.RemoteUrl is { } remote)
            {
                rules.Check(RemoteUrls.Parse(remote));
            }
        }
        catch (RemoteNotAllowedException refused)
        {
            throw new GitFailure(ReasonCodes.RemoteNotAllowed, $"KB '{kb.Id}': {refused.Message} Nothing was fetched or pushed; register the KB again with a remote the rules allow (kbsync kb add {kb.Id} --replace ...).", refused);
        }
    }
}

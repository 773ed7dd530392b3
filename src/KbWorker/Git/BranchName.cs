using KbSync.Contracts;
using KbSync.Persistence.KnowledgeBases;

namespace KbSync.KbWorker.Git;

/// <summary>
/// A KB's branch checked before it is used, by the rule the registry applies (<see cref="BranchNames"/>:
/// git's own): it becomes a ref in the clone, a refspec, and for a local remote a path
/// (<c>refs/heads/&lt;branch&gt;.lock</c>), where a leading <c>/</c> or a <c>..</c> would reach outside
/// the repository (<c>Path.Combine</c> returns a rooted part as it is). A registration made before
/// registration checked as much, or written to the database by hand, fails here, clearly, instead.
/// </summary>
public static class BranchName
{
    public static void Check(KbRemote kb)
    {
        if (BranchNames.Problem(kb.Branch) is { } problem)
        {
            throw new GitFailure(ReasonCodes.InvalidRequest, $"KB '{kb.Id}': '{kb.Branch}' is not a valid git branch name ({problem}); register the KB again with a valid --branch (kbsync kb add {kb.Id} --replace ...).");
        }
    }
}

using KbSync.Contracts;
using KbSync.Persistence.Entities;
using LibGit2Sharp;

namespace KbSync.KbWorker.Git;

/// <summary>
/// A KB's branch checked by git's own rules (libgit2's <c>git_reference_name_is_valid</c>) before it
/// is used: it becomes a ref in the clone, a refspec, and for a local remote a path
/// (<c>refs/heads/&lt;branch&gt;.lock</c>), where a leading <c>/</c> or a <c>..</c> would reach outside
/// the repository (<c>Path.Combine</c> returns a rooted part as it is). A registration made before
/// registration checked as much, or written to the database by hand, fails here, clearly, instead.
/// </summary>
public static class BranchName
{
    public static void Check(KnowledgeBaseRecord kb)
    {
        if (!Reference.IsValidName("refs/heads/" + kb.Branch))
        {
            throw new GitFailure(ReasonCodes.InvalidRequest, $"KB '{kb.Id}': '{kb.Branch}' is not a valid git branch name; register the KB again with a valid --branch (kbsync kb add {kb.Id} --replace ...).");
        }
    }
}

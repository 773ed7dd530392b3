using KbSync.KbWorker.Git;
using LibGit2Sharp;

namespace KbSync.IntegrationTests.Fixtures;

/// <summary>A bare repository standing in for a KB's hosted remote, and what is on it.</summary>
public sealed class GitRemote
{
    public GitRemote(string path, string branch = "main")
    {
        Path = path;
        Branch = branch;
        Repository.Init(path, isBare: true);
        using var repository = new Repository(path);
        repository.Refs.UpdateTarget("HEAD", "refs/heads/" + branch);
    }

    public string Path { get; }
    public string Branch { get; }

    /// <summary>The branch's commits, oldest first.</summary>
    public IReadOnlyList<RemoteCommit> Commits()
    {
        using var repository = new Repository(Path);
        var branch = repository.Branches[Branch];
        if (branch?.Tip is null)
        {
            return [];
        }

        return repository.Commits.QueryBy(new CommitFilter { IncludeReachableFrom = branch.Tip, SortBy = CommitSortStrategies.Topological | CommitSortStrategies.Reverse })
            .Select(c => new RemoteCommit(c.Sha, c.Author.Name, c.Author.Email, c.MessageShort, CommitTrailers.Parse(c.Message, c.Sha), c.Parents.Count())
            {
                CommitterName = c.Committer.Name,
                CommitterEmail = c.Committer.Email,
            })
            .ToList();
    }

    /// <summary>The text of a file at the branch head, or null.</summary>
    public string? ReadFile(string path)
    {
        using var repository = new Repository(Path);
        return repository.Branches[Branch]?.Tip?[path]?.Target is Blob blob ? blob.GetContentText() : null;
    }

    public IReadOnlyList<string> Files()
    {
        using var repository = new Repository(Path);
        var tip = repository.Branches[Branch]?.Tip;
        return tip is null ? [] : Flatten(tip.Tree, "").ToList();
    }

    private static IEnumerable<string> Flatten(Tree tree, string prefix) =>
        tree.SelectMany(entry => entry.TargetType == TreeEntryTargetType.Tree
            ? Flatten((Tree)entry.Target, prefix + entry.Name + "/")
            : [prefix + entry.Name]);
}

public sealed record RemoteCommit(string Sha, string AuthorName, string AuthorEmail, string Subject, CommitTrailers? Trailers, int ParentCount)
{
    public string CommitterName { get; init; } = "";
    public string CommitterEmail { get; init; } = "";
}

public static class GitRemoteOnDiskExtensions
{
    /// <summary>A <see cref="GitRemote"/> over a repository a <see cref="GitHttpServer"/> serves, to read its commits and files.</summary>
    public static GitRemote Open(this GitRemoteOnDisk remote) => new(remote.Path, remote.Branch);
}

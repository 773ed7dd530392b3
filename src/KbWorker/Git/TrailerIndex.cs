using LibGit2Sharp;

namespace KbSync.KbWorker.Git;

/// <summary>
/// What KbSync has already written to one KB, read from commit trailers: operation ids and content
/// hashes in the history of the remote head, plus the commits made locally since the last sync.
/// Kept in memory per KB and caught up incrementally after each fetch (only new commits are read),
/// so the exactly-once check does not walk the whole history every time.
/// </summary>
public sealed class TrailerIndex
{
    private readonly Dictionary<Guid, CommitTrailers> _operations = new();
    private readonly HashSet<string> _contents = new(StringComparer.Ordinal);
    private readonly List<CommitTrailers> _local = new();
    private string? _indexedHead;

    public CommitTrailers? FindOperation(Guid operationId) =>
        _local.Find(t => t.OperationId == operationId) ?? _operations.GetValueOrDefault(operationId);

    public bool ContainsContent(string contentHash) =>
        _contents.Contains(contentHash) || _local.Exists(t => t.ContentHash == contentHash);

    /// <summary>Reads the commits between the last indexed head and <paramref name="head"/>; starts over if history was rewritten.</summary>
    internal void CatchUp(Repository repository, string? head)
    {
        _local.Clear();
        if (head == _indexedHead)
        {
            return;
        }

        var filter = new CommitFilter { IncludeReachableFrom = head, SortBy = CommitSortStrategies.None };
        if (_indexedHead is not null && head is not null && IsAncestor(repository, _indexedHead, head))
        {
            filter.ExcludeReachableFrom = _indexedHead;
        }
        else
        {
            _operations.Clear();
            _contents.Clear();
        }

        if (head is not null)
        {
            foreach (var commit in repository.Commits.QueryBy(filter))
            {
                Add(_operations, _contents, commit);
            }
        }

        _indexedHead = head;
    }

    internal void AddLocal(Commit commit)
    {
        if (CommitTrailers.Parse(commit.Message, commit.Sha) is { } trailers)
        {
            _local.Add(trailers);
        }
    }

    private static void Add(Dictionary<Guid, CommitTrailers> operations, HashSet<string> contents, Commit commit)
    {
        if (CommitTrailers.Parse(commit.Message, commit.Sha) is not { } trailers)
        {
            return;
        }

        operations.TryAdd(trailers.OperationId, trailers);
        if (trailers.ContentHash is not null)
        {
            contents.Add(trailers.ContentHash);
        }
    }

    private static bool IsAncestor(Repository repository, string ancestor, string head)
    {
        var older = repository.Lookup<Commit>(ancestor);
        var newer = repository.Lookup<Commit>(head);
        return older is not null && newer is not null && repository.ObjectDatabase.FindMergeBase(older, newer)?.Sha == older.Sha;
    }
}

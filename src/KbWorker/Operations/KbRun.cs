using KbSync.KbWorker.Pipeline;
using KbSync.Persistence.Entities;

namespace KbSync.KbWorker.Operations;

/// <summary>
/// One run of a KB's requests as its groups see it: the KB, which clone and lock it uses, and the two
/// database reads that proceed beside the lock and the fetch (the registry's record of the KB, and the
/// history rows begun for the run), each waited for only where it is first needed.
/// </summary>
public sealed class KbRun(string kbId, bool reader, Task<KnowledgeBaseRecord?> registered, Task<IReadOnlyDictionary<Guid, OperationOutcome>> begun)
{
    public string KbId { get; } = kbId;

    /// <summary>A read-only task's run: the KB's reader clone and shared lock.</summary>
    public bool Reader { get; } = reader;

    /// <summary>The registry's record of the KB; null when no such KB is registered.</summary>
    public Task<KnowledgeBaseRecord?> RegisteredAsync(CancellationToken cancellationToken) => registered.WaitAsync(cancellationToken);

    /// <summary>
    /// The requests of the run an earlier delivery finished already, by id (from writing the running
    /// rows): waited for just before the first request is applied, so that write overlaps the lock and the fetch.
    /// </summary>
    public Task<IReadOnlyDictionary<Guid, OperationOutcome>> FinishedEarlierAsync(CancellationToken cancellationToken) => begun.WaitAsync(cancellationToken);
}

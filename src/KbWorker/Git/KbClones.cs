using System.Collections.Concurrent;
using KbSync.Persistence.Entities;
using LibGit2Sharp;
using Microsoft.Extensions.Options;

namespace KbSync.KbWorker.Git;

/// <summary>
/// Opens the worker's clone of a KB (<c>&lt;data&gt;/kbs/&lt;kb&gt;.git</c>), creating it on first use,
/// and keeps each KB's <see cref="TrailerIndex"/> between operations. Call under the KB lock.
/// </summary>
public sealed class KbClones(IOptions<KbWorkerOptions> options)
{
    private readonly string _root = Path.Combine(options.Value.ResolveDataPath(), "kbs");
    private readonly string _workerId = options.Value.WorkerId;
    private readonly ConcurrentDictionary<string, TrailerIndex> _indexes = new();

    public string PathOf(string kbId) => Path.Combine(_root, kbId + ".git");

    public IKbClone Open(KnowledgeBaseRecord kb)
    {
        var path = PathOf(kb.Id);
        if (!Repository.IsValid(path))
        {
            Directory.CreateDirectory(path);
            Repository.Init(path, isBare: true);
        }

        var repository = new Repository(path);
        try
        {
            ConfigureOrigin(repository, kb);
            return new LibGit2KbClone(repository, kb, _indexes.GetOrAdd(kb.Id, _ => new TrailerIndex()), _workerId);
        }
        catch
        {
            repository.Dispose();
            throw;
        }
    }

    /// <summary>Keeps <c>origin</c> equal to the registered remote (the URL never holds a credential).</summary>
    private static void ConfigureOrigin(Repository repository, KnowledgeBaseRecord kb)
    {
        var origin = repository.Network.Remotes["origin"];
        if (kb.RemoteUrl is null)
        {
            if (origin is not null)
            {
                repository.Network.Remotes.Remove("origin");
            }

            return;
        }

        var refSpec = $"+refs/heads/{kb.Branch}:refs/remotes/origin/{kb.Branch}";
        if (origin is null)
        {
            repository.Network.Remotes.Add("origin", kb.RemoteUrl, refSpec);
        }
        else if (origin.Url != kb.RemoteUrl || origin.FetchRefSpecs.Select(r => r.Specification).SingleOrDefault() != refSpec)
        {
            repository.Network.Remotes.Update("origin", r =>
            {
                r.Url = kb.RemoteUrl;
                r.FetchRefSpecs = [refSpec];
            });
        }
    }
}

using System.Collections.Concurrent;
using KbSync.Contracts;
using KbSync.Persistence.KnowledgeBases;
using LibGit2Sharp;
using Microsoft.Extensions.Options;

namespace KbSync.KbWorker.Git;

/// <summary>
/// The worker's clones (<c>&lt;data&gt;/kbs/&lt;kb&gt;.git</c>, bare) and each KB's <see cref="TrailerIndex"/>.
/// Call under the KB lock: opening a clone first clears lock files a killed process left in it
/// (any lock file there is stale once we hold the KB lock), and a clone that turns out damaged is
/// <see cref="Discard">discarded</see> and made again from the remote. Opening also keeps the number
/// of packs in the clone bounded (<see cref="ClonePacks.Merge"/>).
/// </summary>
public sealed class KbClones : IKbClones
{
    private readonly string _root;
    private readonly KbWorkerOptions _options;
    private readonly ILogger<KbClones> _logger;
    private readonly RefLockOwner _self;
    private readonly RemoteRules _rules;
    private readonly ConcurrentDictionary<string, TrailerIndex> _indexes = new();

    /// <param name="rules">The remote rules (<c>Remotes__*</c>); this worker's data folder is added to the folders no local remote may be in.</param>
    public KbClones(IOptions<KbWorkerOptions> options, RemoteRules rules, ILogger<KbClones> logger)
    {
        _options = options.Value;
        _logger = logger;
        _self = RefLockOwner.Current(_options.WorkerId);
        var dataPath = _options.ResolveDataPath();
        _root = Path.Combine(dataPath, "kbs");
        _rules = rules.WithWorkerDataPath(dataPath);
        MarkDataFolder(dataPath);
        SshKeyFile.RemoveStale(logger);
        LibGit2Settings.Apply(connect: Min(_options.NetworkTimeout, TimeSpan.FromSeconds(30)), io: _options.NetworkTimeout);
    }

    /// <param name="reader">The KB's reader clone: read-only tasks fetch into it without touching the writers' clone.</param>
    public string PathOf(string kbId, bool reader = false) => Path.Combine(_root, kbId + (reader ? ".read.git" : ".git"));

    public IKbClone Open(KbRemote kb, bool reader = false)
    {
        RemoteGate.Check(_rules, kb); // before anything touches the remote: merging a local remote's packs writes into it
        var path = PathOf(kb.Id, reader);
        ClearStaleLocks(kb.Id, path);
        Repository repository;
        try
        {
            if (!File.Exists(Path.Combine(path, "HEAD")))
            {
                Directory.CreateDirectory(path);
                Repository.Init(path, isBare: true);
            }

            if (ClonePacks.Merge(path, _options.MaxClonePacks) is > 0 and var merged)
            {
                _logger.LogInformation("KB {KbId}: merged {Count} packs of the worker's clone into one", kb.Id, merged);
            }

            if (!reader)
            {
                MergeRemotePacks(kb);
            }

            repository = new Repository(path); // a folder that is not a repository any more fails here, and is cloned again
            ConfigureOrigin(repository, kb);
        }
        catch (Exception error) when (error is LibGit2SharpException or InvalidDataException)
        {
            throw new GitFailure(ReasonCodes.CorruptClone, $"KB '{kb.Id}': the worker's clone at {path} cannot be opened ({error.Message}); it is cloned again.", error);
        }

        return new LibGit2KbClone(repository, kb, _indexes.GetOrAdd(path, _ => new TrailerIndex()), _self, _rules, _options.NetworkTimeout, _logger);
    }

    /// <summary>
    /// Every push to a remote on this machine's file system leaves one pack there (<see cref="LocalRemotePush"/>),
    /// and no git receives them to run <c>git gc --auto</c>: past <see cref="KbWorkerOptions.MaxRemotePacks"/>
    /// they are merged here, under the KB's lock. A merge that fails only delays the next one: the remote
    /// stays complete either way (<see cref="ClonePacks.Merge"/>), so the operation goes on.
    /// </summary>
    private void MergeRemotePacks(KbRemote kb)
    {
        if (kb.RemoteUrl is not { } url || !RemoteUrls.IsLocal(url) || LocalRemotePush.GitDirectory(url) is not { } remote)
        {
            return;
        }

        try
        {
            if (ClonePacks.Merge(remote, _options.MaxRemotePacks) is > 0 and var merged)
            {
                _logger.LogInformation("KB {KbId}: merged {Count} packs of the remote {Remote} into one", kb.Id, merged, url);
            }
        }
        catch (Exception error) when (error is LibGit2SharpException or IOException or UnauthorizedAccessException or InvalidDataException)
        {
            _logger.LogWarning("KB {KbId}: could not merge the packs of the remote {Remote} ({Message}); the next operation tries again", kb.Id, url, error.Message);
        }
    }

    /// <summary>Deletes a damaged clone; the next <see cref="Open"/> makes a fresh one and fetches everything again.</summary>
    public void Discard(string kbId, bool reader = false)
    {
        var path = PathOf(kbId, reader);
        _logger.LogWarning("KB {KbId}: discarding the damaged clone at {Path}", kbId, path);
        _indexes.TryRemove(path, out _);
        if (Directory.Exists(path))
        {
            foreach (var file in Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories))
            {
                File.SetAttributes(file, FileAttributes.Normal);
            }

            Directory.Delete(path, recursive: true);
        }
    }

    /// <summary>
    /// <c>*.lock</c> files (ref, packed-refs, config, HEAD) are created and removed within one libgit2
    /// call; one that exists while we hold the KB lock was left by a process that died mid-call.
    /// </summary>
    private void ClearStaleLocks(string kbId, string path)
    {
        if (!Directory.Exists(path))
        {
            return;
        }

        var candidates = Directory.EnumerateFiles(path, "*.lock", SearchOption.TopDirectoryOnly);
        var refs = Path.Combine(path, "refs");
        if (Directory.Exists(refs))
        {
            candidates = candidates.Concat(Directory.EnumerateFiles(refs, "*.lock", SearchOption.AllDirectories));
        }

        foreach (var stale in candidates.ToList())
        {
            try
            {
                File.Delete(stale);
                _logger.LogWarning("KB {KbId}: removed stale lock file {LockFile} left by a process that stopped mid-write", kbId, stale);
            }
            catch (Exception error) when (error is IOException or UnauthorizedAccessException)
            {
                throw new GitFailure(ReasonCodes.WorkingCopyLocked, $"KB '{kbId}': the stale lock file {stale} in the worker's clone cannot be removed ({error.Message}).", error);
            }
        }
    }

    /// <summary>Keeps <c>origin</c> equal to the registered remote (the URL never holds a credential).</summary>
    private static void ConfigureOrigin(Repository repository, KbRemote kb)
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

    /// <summary>
    /// Leaves <see cref="LocalRemotePaths.WorkerDataMarker"/> at the top of the data folder, so that the registry
    /// and every other worker on this machine refuse a local remote inside it, whatever their own settings.
    /// </summary>
    private static void MarkDataFolder(string dataPath)
    {
        Directory.CreateDirectory(dataPath);
        var marker = Path.Combine(dataPath, LocalRemotePaths.WorkerDataMarker);
        if (!File.Exists(marker))
        {
            File.WriteAllText(marker, "A KbSync worker's data folder (clones, locks, agent runs): no KB remote may be inside it.\n");
        }
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
}

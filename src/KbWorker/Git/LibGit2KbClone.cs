using KbSync.Contracts;
using KbSync.KbWorker.Failures;
using KbSync.Persistence.KnowledgeBases;
using LibGit2Sharp;

namespace KbSync.KbWorker.Git;

/// <summary>
/// <see cref="IKbClone"/> on LibGit2Sharp: a bare repository whose <c>origin</c> fetches only the
/// KB's branch into <c>refs/remotes/origin/&lt;branch&gt;</c>. Commits are built from the object
/// database (tree edits touch only the changed paths) into <see cref="UnsavedObjects"/>, in memory.
/// <see cref="PushAsync"/> saves their new objects to the clone as one pack, moves
/// <c>refs/heads/&lt;branch&gt;</c> and pushes it without force, so the remote accepts it only if nobody
/// wrote in between: through libgit2 for a network remote, by <see cref="LocalRemotePush"/> for one on
/// this machine's file system.
/// </summary>
internal sealed class LibGit2KbClone : IKbClone
{
    private const string RemoteName = "origin";

    private readonly Repository _repository;
    private readonly KbRemote _kb;
    private readonly TrailerIndex _index;
    private readonly Signature _committer;
    private readonly string _localRef;
    private readonly string _remoteRef;
    private readonly TimeSpan _networkTimeout;
    private readonly RefLockOwner _self;
    private readonly RemoteRules _rules;
    private readonly ILogger _logger;
    private readonly UnsavedObjects _unsaved = new();
    private readonly HashSet<ObjectId> _newObjects = [];
    private string? _syncedHead;
    private bool _credentialsMissing;
    private string? _credentialsWithheld;

    /// <param name="self">This worker process, recorded as the owner of the ref locks it takes in a local remote.</param>
    /// <param name="rules">The remote rules, checked again before every fetch and push; they also say who may be given the token.</param>
    public LibGit2KbClone(Repository repository, KbRemote kb, TrailerIndex index, RefLockOwner self, RemoteRules rules, TimeSpan networkTimeout, ILogger logger)
    {
        _networkTimeout = networkTimeout;
        _self = self;
        _rules = rules;
        _logger = logger;
        _repository = repository;
        _kb = kb;
        _index = index;
        _committer = new Signature($"KbSync worker {self.WorkerId}", "kbsync@worker.invalid", DateTimeOffset.UtcNow);
        _localRef = "refs/heads/" + kb.Branch;
        _remoteRef = $"refs/remotes/{RemoteName}/{kb.Branch}";
        repository.ObjectDatabase.AddBackend(_unsaved, priority: 100); // above the loose (1) and packed (2) backends: new objects go to memory
    }

    public string? Tip { get; private set; }

    public bool HasRemote => _kb.RemoteUrl is not null;

    public string? LockedBy { get; private set; }

    public Task SyncAsync(bool fetch, CancellationToken cancellationToken) => Task.Run(() =>
    {
        _unsaved.Clear();
        _newObjects.Clear();
        if (HasRemote && (fetch || _repository.Refs[_remoteRef] is null))
        {
            Fetch(cancellationToken);
        }

        Local("sync", () =>
        {
            var head = _repository.Refs[HasRemote ? _remoteRef : _localRef]?.ResolveToDirectReference()?.TargetIdentifier;
            if (HasRemote)
            {
                MoveLocalBranch(head);
            }

            Tip = _syncedHead = head;
            _index.CatchUp(_repository, Tip);
            return Tip;
        });
    }, cancellationToken);

    public CommitTrailers? FindOperation(Guid operationId) => _index.FindOperation(operationId);

    public bool ContainsContent(string contentHash) => _index.ContainsContent(contentHash);

    public bool FileExists(string path) => Local("read", () => TipCommit()?[path] is not null);

    public string? ReadText(string path) =>
        Local("read", () => TipCommit()?[path]?.Target is Blob blob ? blob.GetContentText(new FilteringOptions(path)) : null);

    public KbEntry? Entry(string path) => Local("read", () => TipCommit()?[path] is { } entry ? ToEntry(path, entry) : null);

    public IEnumerable<KbEntry> Files(string? folder = null) => Local("read", () =>
    {
        var root = TipCommit()?.Tree;
        if (root is not null && !string.IsNullOrEmpty(folder))
        {
            root = root[folder]?.Target as Tree;
        }

        return root is null ? [] : Walk(root, string.IsNullOrEmpty(folder) ? "" : folder + "/").ToList();
    });

    public byte[]? ReadBytes(string path) => Local("read", () =>
    {
        if (TipCommit()?[path]?.Target is not Blob blob)
        {
            return null;
        }

        using var content = blob.GetContentStream();
        using var bytes = new MemoryStream();
        content.CopyTo(bytes);
        return bytes.ToArray();
    });

    public string Commit(IReadOnlyList<TreeChange> changes, CommitAuthor author, string message, CommitAuthor? committer = null)
    {
        using var span = Telemetry.WorkerTracing.Source.StartActivity("kbsync.commit"); // inside the operation's process span
        span?.SetTag("kbsync.commit.files", changes.Count);
        return Local("commit", () => CommitCore(changes, author, message, committer));
    }

    /// <summary>
    /// Checks the changes against the tip (<see cref="CommitPaths"/>: a path conflict fails the request,
    /// before anything is written), then builds the commit's tree in one edit, or two when the commit
    /// turns a file into a folder or a folder into a file (see <see cref="CommitPlan"/>).
    /// </summary>
    private string CommitCore(IReadOnlyList<TreeChange> changes, CommitAuthor author, string message, CommitAuthor? committer)
    {
        var parent = TipCommit();
        var tip = new TipTree(parent?.Tree);
        var plan = CommitPaths.Check(changes, tip);
        var edits = new List<(string Path, ObjectId? Blob, Mode Mode)>(plan.Changes.Count);
        foreach (var change in plan.Changes)
        {
            var existing = tip.EntryAt(change.Path);
            if (change.Content is null)
            {
                if (existing is not null)
                {
                    edits.Add((change.Path, null, Mode.Nonexistent));
                }

                continue;
            }

            var mode = existing?.Mode == Mode.ExecutableFile ? Mode.ExecutableFile : Mode.NonExecutableFile;
            edits.Add((change.Path, _repository.ObjectDatabase.Write<Blob>(change.Content), mode));
        }

        var baseline = parent?.Tree;
        if (plan.RemovedFirst.Count > 0)
        {
            baseline = _repository.Lookup<Tree>(TreeEdits.Apply(_repository, baseline, plan.RemovedFirst.Select(p => (p, (ObjectId?)null, Mode.Nonexistent)).ToList()));
        }

        var commit = _repository.ObjectDatabase.CreateCommit(
            new Signature(author.Name, author.Email, author.When),
            committer is null ? new Signature(_committer.Name, _committer.Email, DateTimeOffset.UtcNow) : new Signature(committer.Name, committer.Email, committer.When),
            message,
            _repository.Lookup<Tree>(TreeEdits.Apply(_repository, baseline, edits)),
            parent is null ? [] : [parent],
            prettifyMessage: false);

        Tip = commit.Sha;
        _newObjects.UnionWith(NewObjects(commit, changes));
        _index.AddLocal(commit);
        return commit.Sha;
    }

    public Task<PushOutcome> PushAsync(CancellationToken cancellationToken) => Task.Run(() =>
    {
        var pack = Local("save", Save);
        LockedBy = null;
        if (!HasRemote)
        {
            return PushOutcome.NoRemote;
        }

        RemoteGate.Check(_rules, _kb); // again: a symlink under the local root may have changed since the clone was opened
        if (RemoteUrls.IsLocal(_kb.RemoteUrl!))
        {
            var outcome = LocalRemotePush.Push(_kb, pack, _syncedHead, Tip!, _self, _logger, out var lockedBy);
            LockedBy = lockedBy;
            return Tracked(outcome);
        }

        PushStatusError? refused = null;
        var deadline = new NetworkDeadline(_networkTimeout, cancellationToken);
        using var ssh = BeginNetworkCall(cancellationToken);
        var options = new PushOptions
        {
            CredentialsProvider = Credentials,
            OnPushStatusError = error => refused = error,
            OnPushTransferProgress = (_, _, _) => deadline.KeepGoing(),
            OnPackBuilderProgress = (_, _, _) => deadline.KeepGoing(),
        };

        try
        {
            _repository.Network.Push(_repository.Network.Remotes[RemoteName], $"{_localRef}:refs/heads/{_kb.Branch}", options);
        }
        catch (NonFastForwardException)
        {
            return PushOutcome.NonFastForward;
        }
        catch (LibGit2SharpException error)
        {
            cancellationToken.ThrowIfCancellationRequested();
            throw Translate(error, "push", deadline, ssh);
        }

        if (refused is not null)
        {
            var reason = refused.Message ?? "";
            // "failed to update ref": the server lost a compare-and-swap on the branch to a concurrent push.
            if (reason.Contains("non-fast-forward", StringComparison.OrdinalIgnoreCase) || reason.Contains("fetch first", StringComparison.OrdinalIgnoreCase) ||
                reason.Contains("failed to update ref", StringComparison.OrdinalIgnoreCase))
            {
                return PushOutcome.NonFastForward;
            }

            throw new GitFailure(ReasonCodes.PushRejected, $"KB '{_kb.Id}': the remote {_kb.RemoteUrl} refused the push to {_kb.Branch}: {reason}");
        }

        return Tracked(PushOutcome.Pushed);
    }, cancellationToken);

    /// <summary>After a push the remote head is <see cref="Tip"/>: the remote-tracking branch says so, for a sync that does not fetch.</summary>
    private PushOutcome Tracked(PushOutcome outcome)
    {
        if (outcome == PushOutcome.Pushed)
        {
            Local("track", () => _repository.Refs.Add(_remoteRef, new ObjectId(Tip!), allowOverwrite: true));
        }

        return outcome;
    }

    public void Dispose() => _repository.Dispose();

    /// <summary>
    /// Writes the objects of the commits made since the last sync into the clone as one pack, then
    /// moves the local branch to <see cref="Tip"/>; returns the pack's path. A process killed before
    /// this leaves nothing of them on disk.
    /// </summary>
    private string Save()
    {
        var pack = ClonePacks.Add(_repository, _newObjects);
        _unsaved.Clear();
        CrashPoint.Reach(CrashPoint.ObjectsWritten);
        MoveLocalBranch(Tip);
        CrashPoint.Reach(CrashPoint.Committed);
        return pack;
    }

    /// <summary>
    /// The objects a commit adds to its parent: itself, its root tree, the trees on the way to each
    /// changed path and the changed files' blobs. Everything else it points at is unchanged from the
    /// parent, so a remote that has the parent has it.
    /// </summary>
    private static IEnumerable<ObjectId> NewObjects(Commit commit, IReadOnlyList<TreeChange> changes)
    {
        yield return commit.Id;
        yield return commit.Tree.Id;
        foreach (var change in changes)
        {
            for (var slash = change.Path.IndexOf('/'); ; slash = change.Path.IndexOf('/', slash + 1))
            {
                if (commit.Tree[slash < 0 ? change.Path : change.Path[..slash]] is { } entry)
                {
                    yield return entry.Target.Id;
                }

                if (slash < 0)
                {
                    break;
                }
            }
        }
    }

    private void Fetch(CancellationToken cancellationToken)
    {
        RemoteGate.Check(_rules, _kb);
        var deadline = new NetworkDeadline(_networkTimeout, cancellationToken);
        using var ssh = BeginNetworkCall(cancellationToken);
        var options = new FetchOptions
        {
            CredentialsProvider = Credentials,
            Prune = true,
            TagFetchMode = TagFetchMode.None,
            OnTransferProgress = _ => deadline.KeepGoing(),
        };

        try
        {
            Commands.Fetch(_repository, RemoteName, [$"+refs/heads/{_kb.Branch}:{_remoteRef}"], options, logMessage: null);
        }
        catch (LibGit2SharpException error)
        {
            cancellationToken.ThrowIfCancellationRequested();
            throw Translate(error, "fetch", deadline, ssh);
        }
    }

    /// <summary>
    /// Clears what the last network call learnt, and for an SSH remote starts its <see cref="SshSession"/>
    /// on this thread (the KB's key as a file, deleted when the session is disposed); null otherwise.
    /// </summary>
    private SshSession? BeginNetworkCall(CancellationToken cancellationToken)
    {
        _credentialsMissing = false;
        _credentialsWithheld = null;
        var address = RemoteUrls.Parse(_kb.RemoteUrl!);
        if (address.Kind != RemoteKind.Ssh)
        {
            return null;
        }

        SshSubtransport.Register();
        return SshSession.Begin(_kb, address, _rules, Min(_networkTimeout, TimeSpan.FromSeconds(30)), _networkTimeout, cancellationToken);
    }

    private Exception Translate(LibGit2SharpException error, string action, NetworkDeadline deadline, SshSession? ssh)
    {
        if (_credentialsWithheld is { } why)
        {
            return new GitFailure(ReasonCodes.AuthFailed, $"KB '{_kb.Id}': the worker gave no credentials during {action}: {why}. The token named by --token-env goes only to the KB's registered remote {_kb.RemoteUrl}.", error);
        }

        if (deadline.Passed)
        {
            return deadline.Failure(_kb.Id, _kb.RemoteUrl!, action, error);
        }

        if (ssh?.Failure is { } said)
        {
            return GitFailure.FromSsh(said, _kb, ssh.KnownHostsFile, action, error);
        }

        return _credentialsMissing
            ? new GitFailure(ReasonCodes.AuthFailed, $"KB '{_kb.Id}': the remote {_kb.RemoteUrl} asks for credentials, but {(_kb.TokenEnv is null ? "the KB was registered without --token-env" : $"the environment variable {_kb.TokenEnv} is not set on this worker")}.", error)
            : GitFailure.FromNetwork(error, _kb.Id, _kb.RemoteUrl ?? "(none)", action);
    }

    /// <summary>
    /// libgit2's credentials callback. It is given the URL of the server that asks, which after a redirect
    /// is not the registered remote: the token goes only to the KB's registered scheme, host and port
    /// (<see cref="RemoteRules.MayReceiveToken"/>). Anyone else gets nothing, not even empty or default
    /// credentials: the callback throws, which ends the fetch or push there.
    /// </summary>
    private Credentials Credentials(string url, string usernameFromUrl, SupportedCredentialTypes types)
    {
        if (!_rules.MayReceiveToken(_kb.RemoteUrl!, url, out var why))
        {
            _credentialsWithheld = why;
            throw new InvalidOperationException($"credentials withheld: {why}");
        }

        var token = _kb.TokenEnv is null ? null : Environment.GetEnvironmentVariable(_kb.TokenEnv);
        if (string.IsNullOrEmpty(token) || !types.HasFlag(SupportedCredentialTypes.UsernamePassword))
        {
            _credentialsMissing = true;
            return new DefaultCredentials();
        }

        return new UsernamePasswordCredentials { Username = string.IsNullOrEmpty(usernameFromUrl) ? "x-access-token" : usernameFromUrl, Password = token };
    }

    /// <summary>A libgit2 failure on the clone itself (not the network) means the clone is damaged: it is discarded and made again.</summary>
    private T Local<T>(string action, Func<T> work)
    {
        try
        {
            return work();
        }
        catch (LibGit2SharpException error)
        {
            throw new GitFailure(ReasonCodes.CorruptClone, $"KB '{_kb.Id}': the worker's clone failed during {action} ({error.Message}); it is cloned again.", error);
        }
    }

    private static IEnumerable<KbEntry> Walk(Tree tree, string prefix)
    {
        foreach (var entry in tree)
        {
            if (entry.TargetType == TreeEntryTargetType.Tree)
            {
                foreach (var file in Walk((Tree)entry.Target, prefix + entry.Name + "/"))
                {
                    yield return file;
                }
            }
            else
            {
                yield return ToEntry(prefix + entry.Name, entry);
            }
        }
    }

    private static KbEntry ToEntry(string path, TreeEntry entry) => entry.Mode switch
    {
        Mode.Directory => new KbEntry(path, KbEntryKind.Folder, entry.Target.Sha, 0),
        Mode.SymbolicLink => new KbEntry(path, KbEntryKind.Symlink, entry.Target.Sha, 0),
        Mode.GitLink => new KbEntry(path, KbEntryKind.Submodule, entry.Target.Sha, 0),
        Mode.ExecutableFile => new KbEntry(path, KbEntryKind.Executable, entry.Target.Sha, ((Blob)entry.Target).Size),
        _ => new KbEntry(path, KbEntryKind.File, entry.Target.Sha, ((Blob)entry.Target).Size),
    };

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private Commit? TipCommit() => Tip is null ? null : _repository.Lookup<Commit>(Tip);

    private void MoveLocalBranch(string? sha)
    {
        if (sha is null)
        {
            if (_repository.Refs[_localRef] is not null)
            {
                _repository.Refs.Remove(_localRef);
            }

            return;
        }

        _repository.Refs.Add(_localRef, new ObjectId(sha), allowOverwrite: true);
    }
}

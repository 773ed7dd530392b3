using System.Security.Cryptography;
using System.Text;
using KbSync.KbWorker.Git;

namespace KbSync.UnitTests.Agents;

/// <summary>
/// A test double of <see cref="IKbClone"/>: the tip's tree as a dictionary of path -> (kind, bytes).
/// Folders are implied by the paths of the entries under them, as in git. What the <c>files</c> agent
/// and <see cref="KbSync.KbWorker.Agents.KbWorkspace"/> use, and a <see cref="Commit"/> that goes
/// through <see cref="CommitPaths"/> as the real clone's does, with the clone as the tip's tree
/// (<see cref="ITipTree"/>), counting how often that tree is read. Each commit's message is kept, so
/// <see cref="FindOperation"/> and <see cref="ContainsContent"/> read its trailers as the real clone does.
/// With an <see cref="InMemoryRemote"/> it also syncs and pushes, as a compare-and-swap on the remote's
/// head: what the operation pipeline's unit tests drive.
/// </summary>
public sealed class InMemoryKbClone(InMemoryRemote? remote = null) : IKbClone, ITipTree
{
    private const string FirstTip = "0000000000000000000000000000000000000001";

    private readonly Dictionary<string, (KbEntryKind Kind, byte[] Content)> _entries = new(StringComparer.Ordinal);
    private readonly List<(string Sha, string Message)> _history = [];
    private InMemoryRemote.State? _seen;

    public string? Tip { get; private set; } = FirstTip;

    public bool HasRemote => remote is not null;

    public string? LockedBy { get; private set; }

    /// <summary>How many commits were made.</summary>
    public int Commits { get; private set; }

    /// <summary>The paths <see cref="KindAt"/> was asked about, in order.</summary>
    public List<string> KindLookups { get; } = [];

    /// <summary>The folders <see cref="EntriesUnder"/> was asked to list, in order.</summary>
    public List<string> FolderWalks { get; } = [];

    public InMemoryKbClone WithFile(string path, string text) => With(path, KbEntryKind.File, Encoding.UTF8.GetBytes(text));

    public InMemoryKbClone WithBytes(string path, byte[] content) => With(path, KbEntryKind.File, content);

    public InMemoryKbClone WithExecutable(string path, string text) => With(path, KbEntryKind.Executable, Encoding.UTF8.GetBytes(text));

    /// <summary>A symlink entry; as in git, its blob is the link's target.</summary>
    public InMemoryKbClone WithSymlink(string path, string target) => With(path, KbEntryKind.Symlink, Encoding.UTF8.GetBytes(target));

    public InMemoryKbClone WithSubmodule(string path) => With(path, KbEntryKind.Submodule, []);

    public InMemoryKbClone With(string path, KbEntryKind kind, byte[] content)
    {
        if (kind == KbEntryKind.Folder)
        {
            throw new ArgumentException("folders are implied by the entries under them", nameof(kind));
        }

        _entries[path] = (kind, content);
        return this;
    }

    /// <summary>Every entry as "kind:path:base64 content", sorted: equal snapshots mean an untouched tree.</summary>
    public IReadOnlyList<string> Snapshot() =>
        _entries.OrderBy(e => e.Key, StringComparer.Ordinal)
            .Select(e => $"{e.Value.Kind}:{e.Key}:{Convert.ToBase64String(e.Value.Content)}")
            .ToList();

    public KbEntry? Entry(string path)
    {
        if (string.IsNullOrEmpty(path))
        {
            return null;
        }

        if (_entries.TryGetValue(path, out var entry))
        {
            return ToEntry(path, entry.Kind, entry.Content);
        }

        var prefix = path + "/";
        return _entries.Keys.Any(p => p.StartsWith(prefix, StringComparison.Ordinal))
            ? new KbEntry(path, KbEntryKind.Folder, Sha1("tree " + path), 0)
            : null;
    }

    public IEnumerable<KbEntry> Files(string? folder = null)
    {
        var prefix = string.IsNullOrEmpty(folder) ? "" : folder + "/";
        return _entries.Where(e => e.Key.StartsWith(prefix, StringComparison.Ordinal))
            .OrderBy(e => e.Key, StringComparer.Ordinal)
            .Select(e => ToEntry(e.Key, e.Value.Kind, e.Value.Content))
            .ToList();
    }

    /// <summary>The blob at a path (a file's content, a symlink's target), or null for a folder, a submodule or nothing.</summary>
    public byte[]? ReadBytes(string path) =>
        _entries.TryGetValue(path, out var entry) && entry.Kind is not KbEntryKind.Submodule ? entry.Content.ToArray() : null;

    /// <summary>Like the real clone: true when anything (even a folder) is at the path.</summary>
    public bool FileExists(string path) => Entry(path) is not null;

    public string? ReadText(string path) => ReadBytes(path) is { } bytes ? Encoding.UTF8.GetString(bytes) : null;

    /// <summary>Checks the changes with <see cref="CommitPaths"/> and applies its plan to the tree: what goes first, then the changes.</summary>
    public string Commit(IReadOnlyList<TreeChange> changes, CommitAuthor author, string message, CommitAuthor? committer = null)
    {
        var plan = CommitPaths.Check(changes, this);
        foreach (var path in plan.RemovedFirst)
        {
            foreach (var key in _entries.Keys.Where(p => p == path || p.StartsWith(path + "/", StringComparison.Ordinal)).ToList())
            {
                _entries.Remove(key);
            }
        }

        foreach (var change in plan.Changes)
        {
            if (change.Content is null)
            {
                _entries.Remove(change.Path);
            }
            else
            {
                _entries[change.Path] = (_entries.TryGetValue(change.Path, out var old) && old.Kind == KbEntryKind.Executable ? KbEntryKind.Executable : KbEntryKind.File, change.Content.ToArray());
            }
        }

        Commits++;
        Tip = Sha1("commit " + Commits + " " + message);
        _history.Add((Tip, message));
        return Tip;
    }

    public KbEntryKind? KindAt(string path)
    {
        KindLookups.Add(path);
        return Entry(path)?.Kind;
    }

    public IEnumerable<string> EntriesUnder(string folder)
    {
        FolderWalks.Add(folder);
        return Files(folder).Select(e => e.Path);
    }

    /// <summary>
    /// Moves the tip to the remote's head as last fetched, dropping unpushed commits; fetches first when
    /// asked to or never done (<see cref="InMemoryRemote.FetchAsync"/>). Without a remote, the tip stays.
    /// </summary>
    public async Task SyncAsync(bool fetch, CancellationToken cancellationToken)
    {
        if (remote is null)
        {
            return;
        }

        if (fetch || _seen is null)
        {
            _seen = await remote.FetchAsync(cancellationToken);
        }

        Reset(_seen);
    }

    public CommitTrailers? FindOperation(Guid operationId) =>
        Trailers().FirstOrDefault(t => t.OperationId == operationId);

    public bool ContainsContent(string contentHash) => Trailers().Any(t => t.ContentHash == contentHash);

    /// <summary>The tip to the remote, if its head is still the one last fetched or pushed (<see cref="InMemoryRemote.Push"/>).</summary>
    public Task<PushOutcome> PushAsync(CancellationToken cancellationToken)
    {
        if (remote is null)
        {
            return Task.FromResult(PushOutcome.NoRemote);
        }

        var state = new InMemoryRemote.State(new(_entries, StringComparer.Ordinal), [.. _history]);
        var (outcome, lockedBy) = remote.Push(_seen?.Head, state);
        LockedBy = lockedBy;
        if (outcome == PushOutcome.Pushed)
        {
            _seen = state;
        }

        return Task.FromResult(outcome);
    }

    public void Dispose()
    {
    }

    private IEnumerable<CommitTrailers> Trailers() =>
        _history.Select(c => CommitTrailers.Parse(c.Message, c.Sha)).OfType<CommitTrailers>();

    private void Reset(InMemoryRemote.State state)
    {
        _entries.Clear();
        foreach (var (path, entry) in state.Entries)
        {
            _entries[path] = entry;
        }

        _history.Clear();
        _history.AddRange(state.History);
        Tip = state.Head ?? FirstTip;
    }

    /// <summary>Files and symlinks get the id git gives their blob, as a real clone reports it (external agents compare files by it).</summary>
    private static KbEntry ToEntry(string path, KbEntryKind kind, byte[] content) =>
        new(path, kind, kind == KbEntryKind.Submodule ? Sha1("commit " + path) : BlobSha(content), kind is KbEntryKind.File or KbEntryKind.Executable ? content.Length : 0);

    private static string BlobSha(byte[] content) =>
        Convert.ToHexStringLower(SHA1.HashData([.. Encoding.ASCII.GetBytes($"blob {content.Length}\0"), .. content]));

    private static string Sha1(string text) => Convert.ToHexStringLower(SHA1.HashData(Encoding.UTF8.GetBytes(text)));
}

using System.Security.Cryptography;
using System.Text;
using KbSync.KbWorker.Git;

namespace KbSync.UnitTests.Agents;

/// <summary>
/// The remote of an <see cref="InMemoryKbClone"/>: a tree and the messages of its commits, whose last
/// commit is the head. A push is accepted only onto the head the clone last saw, as git's is; a test
/// writes as someone else would (<see cref="Write"/>), refuses pushes as locked, or makes fetches
/// fail or hang, and counts fetches and pushes.
/// </summary>
public sealed class InMemoryRemote
{
    private State _state = new(new(StringComparer.Ordinal), []);

    public int Fetches { get; private set; }

    public int Pushes { get; private set; }

    /// <summary>Runs as each push arrives, before it is judged: a test writes as someone else here.</summary>
    public Action<InMemoryRemote>? BeforePush { get; set; }

    /// <summary>While above zero, each push is refused as <see cref="PushOutcome.Locked"/> (and counts one down).</summary>
    public int LockedPushes { get; set; }

    /// <summary>Thrown by every fetch while set (a git failure, say).</summary>
    public Exception? FetchFailure { get; set; }

    /// <summary>How long each fetch takes (cancelled with the operation).</summary>
    public TimeSpan FetchDelay { get; set; }

    public string? Head => _state.Head;

    /// <summary>The messages of the remote's commits, oldest first.</summary>
    public IReadOnlyList<string> Messages => _state.History.Select(c => c.Message).ToList();

    public string? ReadText(string path) => _state.Entries.TryGetValue(path, out var entry) ? Encoding.UTF8.GetString(entry.Content) : null;

    /// <summary>A commit by someone else: one file written, with a message of its own.</summary>
    public InMemoryRemote Write(string path, string text, string message = "Someone else's change")
    {
        var entries = new Dictionary<string, (KbEntryKind Kind, byte[] Content)>(_state.Entries, StringComparer.Ordinal)
        {
            [path] = (KbEntryKind.File, Encoding.UTF8.GetBytes(text)),
        };
        var sha = Convert.ToHexStringLower(SHA1.HashData(Encoding.UTF8.GetBytes($"foreign {_state.History.Count} {path} {message}")));
        _state = new State(entries, [.. _state.History, (sha, message)]);
        return this;
    }

    internal async Task<State> FetchAsync(CancellationToken cancellationToken)
    {
        Fetches++;
        await Task.Delay(FetchDelay, cancellationToken);
        if (FetchFailure is { } failure)
        {
            throw failure;
        }

        return _state;
    }

    internal (PushOutcome Outcome, string? LockedBy) Push(string? expectedHead, State pushed)
    {
        Pushes++;
        BeforePush?.Invoke(this);
        if (LockedPushes > 0)
        {
            LockedPushes--;
            return (PushOutcome.Locked, "the branch main of the test remote is locked: by a test");
        }

        if (_state.Head != expectedHead)
        {
            return (PushOutcome.NonFastForward, null);
        }

        _state = pushed;
        return (PushOutcome.Pushed, null);
    }

    /// <summary>A tree and the commits that made it, oldest first; never changed once made.</summary>
    internal sealed record State(Dictionary<string, (KbEntryKind Kind, byte[] Content)> Entries, List<(string Sha, string Message)> History)
    {
        public string? Head => History.Count == 0 ? null : History[^1].Sha;
    }
}

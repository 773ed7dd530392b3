using System.Diagnostics;
using KbSync.Contracts;

namespace KbSync.KbWorker.Git;

/// <summary>
/// The wall-clock limit of one fetch or push, checked from libgit2's progress callbacks (a slow,
/// trickling remote). A silent remote fires no callback; libgit2's socket timeouts
/// (<see cref="LibGit2Settings"/>) end that wait instead.
/// </summary>
internal sealed class NetworkDeadline(TimeSpan limit, CancellationToken cancellationToken)
{
    private readonly Stopwatch _elapsed = Stopwatch.StartNew();

    public bool Passed => _elapsed.Elapsed > limit;

    /// <summary>False tells libgit2 to stop: the deadline passed or the operation was cancelled.</summary>
    public bool KeepGoing() => !Passed && !cancellationToken.IsCancellationRequested;

    public GitFailure Failure(string kbId, string remote, string action, Exception error) =>
        new(ReasonCodes.NetworkTimeout, $"KB '{kbId}': {action} of {remote} passed its deadline of {limit.TotalSeconds:0.#} s (KbWorker__NetworkTimeout).", error);
}

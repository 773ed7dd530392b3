namespace KbSync.KbWorker.Messaging.Ordering;

/// <summary>
/// The partition's work in progress on one channel: the KB groups running now (one per KB at most), from
/// the first group that started while none ran until the last of them ends. New groups join it as their
/// KBs' turns come, so it may last longer than any one group. Counts groups and requests and says since
/// when (for the logs); <see cref="Released"/> completes once the partition no longer waits for it (its
/// last group ended, or its channel was replaced): a hand-over waits for that. Used under the
/// <see cref="PartitionSequencer"/>'s lock.
/// </summary>
public sealed class PartitionRun(DateTimeOffset startedAt)
{
    private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Groups running now.</summary>
    public int Groups { get; private set; }

    /// <summary>Requests in the groups running now.</summary>
    public int Requests { get; private set; }

    public DateTimeOffset StartedAt { get; } = startedAt;

    public Task Released => _released.Task;

    public void GroupStarted(int requests)
    {
        Groups++;
        Requests += requests;
    }

    /// <summary>A group ended; true when it was the last one running.</summary>
    public bool GroupEnded(int requests)
    {
        Groups--;
        Requests -= requests;
        return Groups == 0;
    }

    public void Release() => _released.TrySetResult();

    public string Describe(DateTimeOffset now) => $"a run of {Requests} in progress for {(now - StartedAt).TotalSeconds:0.0} s, in {Groups} KB group(s)";
}

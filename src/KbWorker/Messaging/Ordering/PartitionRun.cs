namespace KbSync.KbWorker.Messaging.Ordering;

/// <summary>
/// A run in progress: how many requests it took and since when (for the logs), and <see cref="Released"/>,
/// which completes once the partition no longer waits for it (it ended, or its channel was replaced).
/// </summary>
public sealed class PartitionRun(int requests, DateTimeOffset startedAt)
{
    private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public int Requests { get; } = requests;

    public DateTimeOffset StartedAt { get; } = startedAt;

    public Task Released => _released.Task;

    public void Release() => _released.TrySetResult();

    public string Describe(DateTimeOffset now) => $"a run of {Requests} in progress for {(now - StartedAt).TotalSeconds:0.0} s";
}

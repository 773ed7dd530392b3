using System.Diagnostics.Metrics;
using KbSync.Contracts;
using KbSync.KbWorker.Pipeline;

namespace KbSync.KbWorker.Telemetry;

/// <summary>
/// The worker's OpenTelemetry instruments (meter <c>KbSync.Worker</c>): how long operations take and
/// wait, by KB and kind, and why they fail (recorded once per finished operation); every push and
/// every replay it causes; the partitions this worker owns and those paused. The README's
/// "Metrics and traces" section lists them all with what an operator may alert on.
/// </summary>
public sealed class WorkerMetrics : IDisposable
{
    public const string MeterName = "KbSync.Worker";

    private readonly Meter _meter;
    private readonly Histogram<double> _duration;
    private readonly Histogram<double> _queueWait;
    private readonly Histogram<double> _lockWait;
    private readonly Counter<long> _failures;
    private readonly Counter<long> _pauses;
    private readonly Counter<long> _pushes;
    private readonly Counter<long> _replays;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<int, string> _paused = new();

    public WorkerMetrics(IMeterFactory meters, OwnedPartitions? owned = null)
    {
        _meter = meters.Create(MeterName);
        _duration = _meter.CreateHistogram<double>("kbsync.operation.duration", "ms", "From a worker taking an operation to its outcome being recorded");
        _queueWait = _meter.CreateHistogram<double>("kbsync.operation.queue_wait", "ms", "From publishing to a worker taking the operation");
        _lockWait = _meter.CreateHistogram<double>("kbsync.operation.lock_wait", "ms", "Waiting for the KB lock");
        _failures = _meter.CreateCounter<long>("kbsync.operation.failures", "{operation}", "Operations that failed or timed out, by reason");
        _pauses = _meter.CreateCounter<long>("kbsync.partition.pauses", "{pause}", "Times a partition paused to retry a run, by reason: PostgreSQL, RabbitMQ (not answering) or internal_error");
        _meter.CreateObservableGauge("kbsync.partition.paused", () => (long)_paused.Count, "{partition}", "Partitions of this worker paused right now, retrying a run");
        _pushes = _meter.CreateCounter<long>("kbsync.push.attempts", "{push}", "Pushes of a group's commits, by KB and outcome: pushed, non_fast_forward (someone wrote first), locked (another writer held the branch), no_remote");
        _replays = _meter.CreateCounter<long>("kbsync.push.replays", "{replay}", "Groups replayed on the remote's new head after a refused push, by KB and reason (non_fast_forward, locked)");
        if (owned is not null)
        {
            _meter.CreateObservableGauge("kbsync.partitions.owned", () => new Measurement<int>(owned.Count, new KeyValuePair<string, object?>("worker", owned.WorkerId)),
                "{partition}", "Partition queues this worker consumes right now");
        }
    }

    public void Record(PendingOperation operation, DateTimeOffset finishedAt)
    {
        if (operation.FinishedEarlier || operation.Outcome is not { } outcome)
        {
            return;
        }

        var kb = new KeyValuePair<string, object?>("kb", operation.Request.KbId);
        var kind = new KeyValuePair<string, object?>("kind", operation.Request.Kind.ToWireName());
        _duration.Record((finishedAt - operation.StartedAt).TotalMilliseconds, kb, kind, new("status", outcome.Status.ToWireName()));
        _queueWait.Record(Math.Max(0, (operation.StartedAt - operation.Request.RequestedAt).TotalMilliseconds), kb, kind);
        _lockWait.Record(operation.Timings.LockWaitMs, kb, kind);
        if (outcome.ErrorCode is { } reason)
        {
            _failures.Add(1, kb, kind, new("reason", reason));
        }
    }

    /// <summary>One push of a group; <paramref name="replaying"/>: refused, and the group is replayed on the new head.</summary>
    /// <param name="outcome">The push's outcome as metrics name it (<c>PushNames.Of</c> in <c>Git/</c>).</param>
    public void Pushed(string kbId, string outcome, bool replaying)
    {
        var kb = new KeyValuePair<string, object?>("kb", kbId);
        _pushes.Add(1, kb, new("outcome", outcome));
        if (replaying)
        {
            _replays.Add(1, kb, new("reason", outcome));
        }
    }

    /// <summary>A partition paused (again) to retry a run.</summary>
    public void Paused(int partition, string reason)
    {
        _paused[partition] = reason;
        _pauses.Add(1, new KeyValuePair<string, object?>("reason", reason));
    }

    public void Resumed(int partition) => _paused.TryRemove(partition, out _);

    public void Dispose() => _meter.Dispose();
}

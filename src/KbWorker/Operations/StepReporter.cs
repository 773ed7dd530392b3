using System.Threading.Channels;
using KbSync.KbWorker.Pipeline;
using KbSync.Persistence.History;

namespace KbSync.KbWorker.Operations;

/// <summary>
/// Shows where a running group is (<see cref="Persistence.Entities.OperationSteps"/>) for
/// <c>kbsync status</c>, <c>--wait</c> and the dashboard, off the operation's critical path: the
/// runner hands the step over and goes on; one background loop writes the steps in order
/// (<see cref="OperationWrites.StepAsync"/>: only to an operation still running, so a step written late
/// never overwrites an outcome). A step lost (database down, worker stopping) costs only that display.
/// <para>
/// When the loop is behind (many partitions' groups at once, or a worker short of CPU), it writes what
/// has piled up together: each operation's latest step only, one statement per step shown, instead of one
/// statement per report. A busy worker then spends no more on showing steps than an idle one: the steps
/// are three writes per group (pull, process, push) beside the two that record it.
/// </para>
/// </summary>
public sealed class StepReporter(OperationWrites writes, ILogger<StepReporter> logger) : BackgroundService
{
    private readonly Channel<(List<Guid> Ids, string Step)> _steps =
        Channel.CreateUnbounded<(List<Guid>, string)>(new UnboundedChannelOptions { SingleReader = true });

    public void Report(IReadOnlyList<PendingOperation> operations, string step) =>
        _steps.Writer.TryWrite((operations.Select(o => o.Id).ToList(), step));

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var pending = new List<(List<Guid> Ids, string Step)>();
        while (await _steps.Reader.WaitToReadAsync(stoppingToken))
        {
            pending.Clear();
            while (_steps.Reader.TryRead(out var report))
            {
                pending.Add(report);
            }

            foreach (var (step, ids) in Latest(pending))
            {
                try
                {
                    await writes.StepAsync(ids, step, stoppingToken);
                }
                catch (Exception error) when (error is not OperationCanceledException)
                {
                    logger.LogWarning("Could not show step {Step} of {Count} operation(s): {Message}", step, ids.Count, error.Message);
                }
            }
        }
    }

    /// <summary>
    /// Each operation's last step in <paramref name="reports"/> (given in the order they were made), grouped by
    /// step, the steps in the order of their last report: what the rows would show had every report been written.
    /// </summary>
    public static List<(string Step, List<Guid> Ids)> Latest(IReadOnlyList<(List<Guid> Ids, string Step)> reports)
    {
        var last = new Dictionary<Guid, int>();
        for (var i = 0; i < reports.Count; i++)
        {
            foreach (var id in reports[i].Ids)
            {
                last[id] = i;
            }
        }

        return last.GroupBy(entry => reports[entry.Value].Step, entry => (entry.Key, entry.Value), StringComparer.Ordinal)
            .OrderBy(step => step.Max(e => e.Value))
            .Select(step => (step.Key, step.Select(e => e.Key).ToList()))
            .ToList();
    }
}

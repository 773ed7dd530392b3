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
/// </summary>
public sealed class StepReporter(OperationWrites writes, ILogger<StepReporter> logger) : BackgroundService
{
    private readonly Channel<(List<Guid> Ids, string Step)> _steps =
        Channel.CreateUnbounded<(List<Guid>, string)>(new UnboundedChannelOptions { SingleReader = true });

    public void Report(IReadOnlyList<PendingOperation> operations, string step) =>
        _steps.Writer.TryWrite((operations.Select(o => o.Id).ToList(), step));

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await foreach (var (ids, step) in _steps.Reader.ReadAllAsync(stoppingToken))
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

using KbSync.Contracts;
using KbSync.KbWorker.Pipeline;
using KbSync.KbWorker.Telemetry;
using KbSync.Persistence.Partitions;
using Microsoft.Extensions.Options;

namespace KbSync.KbWorker.Failures;

/// <summary>
/// Runs one KB's group of a partition run until every request in it has an outcome, whatever fails.
/// <list type="bullet">
/// <item>A failure caused by a request or its KB is an <see cref="OperationFailure"/>: the runner
/// records it as that request's outcome, so it never reaches here.</item>
/// <item>Anything else is retried in place, after a pause that doubles up to 30 s, so the partition
/// keeps its order. While a service does not answer (<see cref="ServiceProbe"/>: PostgreSQL, RabbitMQ)
/// the partition waits as long as it takes: the request is not to blame.</item>
/// <item>A failure while every service answers counts against the group. After
/// <see cref="KbWorkerOptions.MaxFailedAttempts"/> of them a group of several requests is split in
/// halves, each run once and halved again while it fails, to find the one to blame; a lone request gets
/// the full count of attempts and is then failed as
/// <c>internal_error</c>, recorded and answered, and its message goes to the partition's error queue
/// (<see cref="PoisonRequestException"/>). The partition goes on.</item>
/// </list>
/// While it retries, the partition shows as paused, with the reason (<see cref="PartitionPauses"/>,
/// metric <c>kbsync.partition.pauses</c>).
/// </summary>
public sealed class Backstop(IServiceProbe probe, PartitionPauses pauses, WorkerMetrics metrics, TimeProvider time, IOptions<KbWorkerOptions> options, ILogger<Backstop> logger)
{
    private static readonly TimeSpan MaxPause = TimeSpan.FromSeconds(30);
    private readonly KbWorkerOptions _options = options.Value;

    /// <param name="run">Runs a group to its recorded and published outcomes; throws when it could not.</param>
    /// <param name="giveUp">Records and publishes a request's <c>internal_error</c> outcome; throws when it could not.</param>
    public async Task RunAsync(int partition, string kbId, IReadOnlyList<PendingOperation> group,
        Func<IReadOnlyList<PendingOperation>, Task> run, Func<PendingOperation, Task> giveUp, CancellationToken cancellationToken)
    {
        var strikes = 0;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await run(group);
                if (attempt > 1)
                {
                    await ResumeAsync(partition, cancellationToken);
                }

                return;
            }
            catch (Exception error) when (!cancellationToken.IsCancellationRequested)
            {
                foreach (var operation in group)
                {
                    operation.Reset();
                }

                var down = await probe.FindDownAsync(cancellationToken);
                if (down is null && ++strikes >= _options.MaxFailedAttempts)
                {
                    await ResumeAsync(partition, cancellationToken);
                    await GiveUpAsync(partition, kbId, group, error, run, giveUp, cancellationToken);
                    return;
                }

                var delay = Pause(attempt);
                var reason = down?.ToString() ?? $"a run of KB {kbId} failed {strikes} time(s) in a row while every service answered ({FailureText.Short(error)}); " +
                    $"retrying, at most {_options.MaxFailedAttempts} times (KbWorker__MaxFailedAttempts)";
                logger.LogError(error, "Partition {Partition} paused: {Reason}. {Count} request(s) of KB {KbId} are tried again in {Delay}; the partition's other requests wait behind them, in order.",
                    partition, reason, group.Count, kbId, delay);
                metrics.Paused(partition, down?.Service ?? ReasonCodes.InternalError);
                await TryAsync(() => pauses.PauseAsync(partition, _options.WorkerId, kbId, reason, attempt, cancellationToken));
                await Task.Delay(delay, time, cancellationToken);
            }
        }
    }

    /// <summary>A group of several is split to find the request to blame (<see cref="SplitAsync"/>); a lone request is failed for good.</summary>
    private async Task GiveUpAsync(int partition, string kbId, IReadOnlyList<PendingOperation> group, Exception error,
        Func<IReadOnlyList<PendingOperation>, Task> run, Func<PendingOperation, Task> giveUp, CancellationToken cancellationToken)
    {
        if (group.Count > 1)
        {
            logger.LogWarning("Partition {Partition}: a group of {Count} requests of KB {KbId} kept failing; splitting it in halves to find the one to blame.", partition, group.Count, kbId);
            await SplitAsync(partition, kbId, group, run, giveUp, cancellationToken);
            return;
        }

        var poisoned = group[0];
        var message = $"KbSync could not process this request: it failed {_options.MaxFailedAttempts} times in a row while PostgreSQL and RabbitMQ answered " +
            $"({FailureText.Short(error)}). It was moved to the partition's error queue for inspection; please report it.";
        logger.LogError(error, "KB {KbId}: operation {OperationId} failed as {Reason} after {Attempts} attempts; its message goes to the error queue of partition {Partition}.",
            kbId, poisoned.Id, ReasonCodes.InternalError, _options.MaxFailedAttempts, partition);
        for (var attempt = 1; ; attempt++)
        {
            poisoned.Fail(ReasonCodes.InternalError, message);
            poisoned.Poisoned = true;
            try
            {
                await giveUp(poisoned);
                return;
            }
            catch (Exception recording) when (!cancellationToken.IsCancellationRequested)
            {
                // nothing is acknowledged without its terminal row and event: wait until they can be written
                var delay = Pause(attempt);
                var reason = (await probe.FindDownAsync(cancellationToken))?.ToString() ?? $"the failure of operation {poisoned.Id} could not be recorded ({FailureText.Short(recording)})";
                logger.LogError(recording, "Partition {Partition} paused: {Reason}; trying again in {Delay}.", partition, reason, delay);
                await Task.Delay(delay, time, cancellationToken);
            }
        }
    }

    /// <summary>
    /// Runs a group that kept failing as two halves, in order, each once: a half that succeeds is done, one
    /// that fails is halved again, and a lone request is run with the full count of attempts
    /// (<see cref="RunAsync"/>), so only a request that fails on its own is ever blamed. One bad request
    /// among <c>n</c> thus costs about 2 log2(n) short runs rather than one run (a lock, a fetch, a push)
    /// per request of its group: what keeps a large <see cref="KbWorkerOptions.MaxBatchSize"/> from
    /// making one bad request slow for many others. A half that fails while a service does not answer is
    /// run with the full backstop instead, which waits for the service.
    /// </summary>
    private async Task SplitAsync(int partition, string kbId, IReadOnlyList<PendingOperation> group,
        Func<IReadOnlyList<PendingOperation>, Task> run, Func<PendingOperation, Task> giveUp, CancellationToken cancellationToken)
    {
        var half = group.Count / 2;
        foreach (var part in new[] { group.Take(half).ToList(), group.Skip(half).ToList() })
        {
            if (part.Count == 1)
            {
                await RunAsync(partition, kbId, part, run, giveUp, cancellationToken);
                continue;
            }

            try
            {
                await run(part);
            }
            catch (Exception error) when (!cancellationToken.IsCancellationRequested)
            {
                foreach (var operation in part)
                {
                    operation.Reset();
                }

                if (await probe.FindDownAsync(cancellationToken) is not null)
                {
                    await RunAsync(partition, kbId, part, run, giveUp, cancellationToken);
                    continue;
                }

                logger.LogInformation("Partition {Partition}: {Count} requests of KB {KbId} failed again ({Error}); halving them.", partition, part.Count, kbId, FailureText.Short(error));
                await SplitAsync(partition, kbId, part, run, giveUp, cancellationToken);
            }
        }
    }

    private async Task ResumeAsync(int partition, CancellationToken cancellationToken)
    {
        metrics.Resumed(partition);
        await TryAsync(() => pauses.ResumeAsync(partition, cancellationToken));
    }

    /// <summary>The pause record is for people; when PostgreSQL is what is down it cannot be written, and the log says why.</summary>
    private async Task TryAsync(Func<Task> write)
    {
        try
        {
            await write();
        }
        catch (Exception error) when (error is not OperationCanceledException)
        {
            logger.LogDebug("The partition's pause could not be recorded: {Message}", error.Message);
        }
    }

    private static TimeSpan Pause(int attempt) => TimeSpan.FromSeconds(Math.Min(MaxPause.TotalSeconds, Math.Pow(2, attempt - 1)));
}

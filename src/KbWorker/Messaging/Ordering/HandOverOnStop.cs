using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace KbSync.KbWorker.Messaging.Ordering;

/// <summary>
/// On a graceful stop (SIGTERM, a deploy) every partition is handed over in order
/// (<see cref="PartitionSequencer.HandOverAsync"/>) before MassTransit stops the bus, whose consumer
/// cancel could, on RabbitMQ 3.10, let the next worker take messages out of order. MassTransit stops
/// in the host's <em>stopping</em> phase; registered after it, this runs before it.
/// </summary>
public sealed class HandOverOnStop(PartitionSequencers sequencers, ILogger<HandOverOnStop> logger) : IHostedLifecycleService
{
    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        try
        {
            await sequencers.HandOverAllAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            logger.LogWarning("Stopping before every partition was handed over; the broker returns what is left when the connection closes.");
        }
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

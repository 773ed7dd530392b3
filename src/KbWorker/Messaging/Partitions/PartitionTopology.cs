using KbSync.Contracts;
using KbSync.Persistence.Partitions;
using KbSync.Producer.Client;
using Microsoft.Extensions.Options;
using RabbitMQ.Client;

namespace KbSync.KbWorker.Messaging.Partitions;

/// <summary>
/// Declares every partition queue of every live layout (<see cref="LiveLayouts"/>, read from PostgreSQL; the
/// first worker records the first layout from its <c>RabbitMq__Partitions</c>) when the worker starts, whether
/// or not it will own the partition: requests are published with the mandatory flag, so a partition nobody
/// has taken yet must still have its queue. The objects are the ones MassTransit declares for a partition
/// endpoint (<see cref="PartitionEndpoint"/>), argument for argument (<see cref="LayoutTopology"/>), and the
/// queue tap's bindings, so a request published once a worker has started is recorded. Registered before
/// MassTransit, so the queues exist before the bus says it has started; it tries again until the
/// broker answers. On a cluster (<see cref="RabbitMqOptions.Hosts"/>) each quorum queue gets a member on
/// every node, as RabbitMQ 3.10 does when no <c>x-quorum-initial-group-size</c> is given.
/// </summary>
public sealed class PartitionTopology(LiveLayouts layouts, IOptions<RabbitMqOptions> options, ILogger<PartitionTopology> logger) : IHostedService
{
    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(2);

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            try
            {
                await DeclareAsync(cancellationToken);
                return;
            }
            catch (Exception error) when (error is not OperationCanceledException)
            {
                logger.LogWarning("Could not declare the partition queues ({Message}); trying again in {Delay}.", error.Message, RetryDelay);
                await Task.Delay(RetryDelay, cancellationToken);
            }
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private async Task DeclareAsync(CancellationToken cancellationToken)
    {
        var rabbit = options.Value;
        var set = await layouts.RefreshAsync(cancellationToken);
        await using var connection = await BrokerConnection.OpenAsync(rabbit, "kbworker-topology", cancellationToken);
        foreach (var layout in set.Live)
        {
            await LayoutTopology.DeclareAsync(connection, layout, rabbit.MaxQueueLength, cancellationToken);
        }

        await connection.CloseAsync(cancellationToken);
    }
}

using KbSync.Contracts;
using MassTransit;

namespace KbSync.KbWorker.Messaging.Ordering;

/// <summary>
/// Tells a partition's sequencer about deliveries that finished without reaching the consumer (an
/// unreadable body moved to the error queue, an unknown message type moved to the skipped queue),
/// so they leave no gap in the delivery order it waits on.
/// </summary>
public sealed class DeliveryObserver(PartitionSequencers sequencers) : IReceiveObserver
{
    public Task PreReceive(ReceiveContext context) => Task.CompletedTask;

    public Task PostReceive(ReceiveContext context) => Pass(context);

    public Task ReceiveFault(ReceiveContext context, Exception exception) => Pass(context);

    public Task PostConsume<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType)
        where T : class => Task.CompletedTask;

    public Task ConsumeFault<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType, Exception exception)
        where T : class => Task.CompletedTask;

    private Task Pass(ReceiveContext context)
    {
        if (Topology.TryParsePartitionQueue(context.InputAddress.AbsolutePath, out var partition) && DeliveryKey.Of(context) is { } delivery)
        {
            sequencers.For(partition).Pass(delivery);
        }

        return Task.CompletedTask;
    }
}

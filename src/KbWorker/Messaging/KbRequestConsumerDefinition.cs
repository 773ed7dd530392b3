using MassTransit;
using Microsoft.Extensions.Options;

namespace KbSync.KbWorker.Messaging;

/// <summary>
/// <see cref="KbWorkerOptions.PartitionLookahead"/> messages in flight per partition (and never fewer than
/// two groups' worth, <see cref="KbWorkerOptions.MaxBatchSize"/> each): the sequencer sees that far ahead
/// of the oldest request not yet acknowledged, so a KB whose requests are queued behind another KB's
/// backlog starts as soon as they are within it. The concurrent message limit is the same, so every
/// delivered message reaches the sequencer, which waits for gaps in the delivery order. No MassTransit
/// retry: failures are either recorded outcomes or retried in place by the sequencer, which keeps the
/// partition's order.
/// </summary>
public sealed class KbRequestConsumerDefinition : ConsumerDefinition<KbRequestConsumer>
{
    private readonly int _inFlight;

    public KbRequestConsumerDefinition(IOptions<KbWorkerOptions> options)
    {
        _inFlight = Math.Max(options.Value.PartitionLookahead, Math.Max(1, options.Value.MaxBatchSize) * 2);
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator, IConsumerConfigurator<KbRequestConsumer> consumerConfigurator, IRegistrationContext context)
    {
        endpointConfigurator.PrefetchCount = _inFlight;
        endpointConfigurator.ConcurrentMessageLimit = _inFlight;
    }
}

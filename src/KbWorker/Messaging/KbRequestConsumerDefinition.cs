using MassTransit;
using Microsoft.Extensions.Options;

namespace KbSync.KbWorker.Messaging;

/// <summary>
/// Up to two runs' worth of messages in flight per partition (<see cref="KbWorkerOptions.MaxBatchSize"/>
/// each): while one run commits, the next one gathers. No MassTransit retry: failures are either
/// recorded outcomes or retried in place by the sequencer, which keeps the partition's order.
/// </summary>
public sealed class KbRequestConsumerDefinition : ConsumerDefinition<KbRequestConsumer>
{
    private readonly int _inFlight;

    public KbRequestConsumerDefinition(IOptions<KbWorkerOptions> options)
    {
        _inFlight = Math.Max(1, options.Value.MaxBatchSize) * 2;
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator, IConsumerConfigurator<KbRequestConsumer> consumerConfigurator, IRegistrationContext context)
    {
        endpointConfigurator.PrefetchCount = _inFlight;
        endpointConfigurator.ConcurrentMessageLimit = _inFlight;
    }
}

using KbSync.Contracts;
using KbSync.KbWorker.Operations;
using MassTransit;

namespace KbSync.KbWorker.Messaging;

/// <summary>
/// Reads a copy of every request from the tap queue (bound to the requests exchange beside the
/// partition queues) and records it as queued, whoever published it: CLI, API, library or a raw
/// AMQP client. Order does not matter here, so the workers share the tap as competing consumers
/// and take it in batches.
/// </summary>
public sealed class QueuedTapConsumer(OperationRecorder recorder) : IConsumer<Batch<KbRequest>>
{
    public Task Consume(ConsumeContext<Batch<KbRequest>> context) =>
        recorder.RecordQueuedAsync(context.Message.Select(m => m.Message).ToList(), context.CancellationToken);
}

/// <summary>Batches of up to 100 copies, handed over after 50 ms at the latest.</summary>
public sealed class QueuedTapConsumerDefinition : ConsumerDefinition<QueuedTapConsumer>
{
    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator, IConsumerConfigurator<QueuedTapConsumer> consumerConfigurator, IRegistrationContext context)
    {
        endpointConfigurator.PrefetchCount = 200;
        endpointConfigurator.UseMessageRetry(r => r.Interval(5, TimeSpan.FromSeconds(1)));
        consumerConfigurator.Options<BatchOptions>(batch => batch.SetMessageLimit(100).SetTimeLimit(TimeSpan.FromMilliseconds(50)));
    }
}

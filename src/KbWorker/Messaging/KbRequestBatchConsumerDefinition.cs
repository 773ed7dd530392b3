using MassTransit;
using Microsoft.Extensions.Options;

namespace KbSync.KbWorker.Messaging;

/// <summary>
/// One batch at a time per partition (so a KB's requests never overlap), up to
/// <see cref="KbWorkerOptions.MaxBatchSize"/> messages, handed over after <see cref="KbWorkerOptions.BatchTimeLimit"/>
/// when fewer are waiting. Infrastructure failures (database, broker) are retried in memory, which
/// keeps the partition's order; request failures never throw, they are recorded.
/// </summary>
public sealed class KbRequestBatchConsumerDefinition : ConsumerDefinition<KbRequestBatchConsumer>
{
    private readonly KbWorkerOptions _options;

    public KbRequestBatchConsumerDefinition(IOptions<KbWorkerOptions> options)
    {
        _options = options.Value;
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator, IConsumerConfigurator<KbRequestBatchConsumer> consumerConfigurator, IRegistrationContext context)
    {
        endpointConfigurator.PrefetchCount = _options.MaxBatchSize * 2;
        endpointConfigurator.UseMessageRetry(r => r.Exponential(10, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(1)));
        consumerConfigurator.Options<BatchOptions>(batch => batch
            .SetMessageLimit(_options.MaxBatchSize)
            .SetTimeLimit(_options.BatchTimeLimit)
            .SetConcurrencyLimit(1));
    }
}

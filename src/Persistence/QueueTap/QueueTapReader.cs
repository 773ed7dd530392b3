using System.Threading.Channels;
using KbSync.Contracts;
using KbSync.Persistence.History;
using KbSync.Persistence.Partitions;
using KbSync.Producer.Client;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace KbSync.Persistence.QueueTap;

/// <summary>
/// Reads the queue tap (<see cref="Topology.QueueTapQueue"/>) and records each request as
/// <c>queued</c>, numbered in the order it reached its partition queue, and each refusal notice.
/// Every worker and every API process runs one, so requests are recorded whichever of them runs: the
/// queue is single active consumer, so one reader at a time gets the copies, in the broker's order,
/// and the others take over when it goes. A plain RabbitMQ.Client consumer rather than a MassTransit
/// endpoint: the client hands deliveries over one at a time, in order, where MassTransit hands them
/// to the consumer concurrently. Each batch (whatever has arrived, up to <see cref="MaxBatch"/>) is
/// written in one transaction and then acknowledged; a failure leaves it unacknowledged and tries
/// again, so nothing is lost and, since rows are keyed by operation id, nothing is counted twice.
/// </summary>
public sealed class QueueTapReader(QueueArrivals arrivals, PartitionLayouts layouts, IOptions<RabbitMqOptions> options, ILogger<QueueTapReader> logger) : BackgroundService
{
    private const int MaxBatch = 500;
    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(2);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await ReadAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception error)
            {
                logger.LogWarning("The queue tap could not be read ({Message}); trying again in {Delay}.", error.Message, RetryDelay);
                await Task.Delay(RetryDelay, stoppingToken);
            }
        }
    }

    private async Task ReadAsync(CancellationToken cancellationToken)
    {
        var rabbit = options.Value;
        await using var connection = await BrokerConnection.OpenAsync(rabbit, "kbsync-queue-tap", cancellationToken); // after a lost connection the loop above opens a new one
        var live = await layouts.ReadAsync(rabbit.Partitions, cancellationToken);
        await DeclareAsync(connection, live.Live.SelectMany(l => l.AllRoutingKeys), cancellationToken);
        await DeleteLegacyTapAsync(connection, cancellationToken);

        await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
        await channel.BasicQosAsync(0, MaxBatch * 2, global: false, cancellationToken);
        var deliveries = Channel.CreateUnbounded<TapDelivery>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var consumer = new AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += (_, delivery) =>
        {
            deliveries.Writer.TryWrite(new TapDelivery(delivery.DeliveryTag, delivery.RoutingKey, delivery.BasicProperties.MessageId,
                delivery.BasicProperties.ContentType, delivery.Body.ToArray())); // the body is the client's buffer: copy it
            return Task.CompletedTask;
        };
        channel.ChannelShutdownAsync += (_, shutdown) =>
        {
            deliveries.Writer.TryComplete(new IOException($"the channel closed: {shutdown.ReplyText}"));
            return Task.CompletedTask;
        };
        await channel.BasicConsumeAsync(Topology.QueueTapQueue, autoAck: false, consumer, cancellationToken);

        var batch = new List<TapDelivery>(MaxBatch);
        while (true)
        {
            batch.Clear();
            batch.Add(await deliveries.Reader.ReadAsync(cancellationToken));
            while (batch.Count < MaxBatch && deliveries.Reader.TryRead(out var next))
            {
                batch.Add(next);
            }

            await RecordAsync(batch, channel, cancellationToken);
            await channel.BasicAckAsync(batch[^1].DeliveryTag, multiple: true, cancellationToken);
        }
    }

    /// <summary>Writes one batch, trying again while PostgreSQL does not answer (the copies stay unacknowledged meanwhile).</summary>
    private async Task RecordAsync(List<TapDelivery> batch, IChannel channel, CancellationToken cancellationToken)
    {
        var found = batch.Select(d => d.ReadArrival()).OfType<QueueArrival>().ToList();
        var refused = batch.Select(d => d.ReadRefusal()).OfType<QueueRefusal>().ToList();
        while (true)
        {
            try
            {
                await arrivals.RecordAsync(found, refused, cancellationToken);
                return;
            }
            catch (Exception error) when (error is not OperationCanceledException && channel.IsOpen)
            {
                logger.LogWarning("Could not record {Count} queued requests ({Message}); trying again in {Delay}.", found.Count, error.Message, RetryDelay);
                await Task.Delay(RetryDelay, cancellationToken);
            }
        }
    }

    /// <summary>
    /// The tap and its bindings: every live layout's routing keys (<see cref="PartitionLayouts"/>), and
    /// <see cref="Topology.RefusedRoutingKey"/>. Declared by every reader (idempotent), so the tap exists as
    /// soon as a worker or the API has started; only live layouts' keys, or a publish with another key would
    /// reach the tap alone, and be recorded as queued where no partition queue took it.
    /// </summary>
    public static async Task DeclareAsync(IConnection connection, IEnumerable<string> routingKeys, CancellationToken cancellationToken)
    {
        await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
        await channel.ExchangeDeclareAsync(Topology.RequestsExchange, ExchangeType.Direct, durable: true, autoDelete: false, cancellationToken: cancellationToken);
        var arguments = Topology.QueueTapArguments().ToDictionary(a => a.Key, a => (object?)a.Value);
        await channel.QueueDeclareAsync(Topology.QueueTapQueue, durable: true, exclusive: false, autoDelete: false, arguments, cancellationToken: cancellationToken);
        foreach (var routingKey in routingKeys)
        {
            await channel.QueueBindAsync(Topology.QueueTapQueue, Topology.RequestsExchange, routingKey, cancellationToken: cancellationToken);
        }

        await channel.QueueBindAsync(Topology.QueueTapQueue, Topology.RequestsExchange, Topology.RefusedRoutingKey, cancellationToken: cancellationToken);
        await channel.CloseAsync(cancellationToken);
    }

    /// <summary>
    /// Deletes the tap of earlier versions if no one reads it (it would grow forever); while an older
    /// worker still reads it the broker refuses, and a later start tries again.
    /// </summary>
    private async Task DeleteLegacyTapAsync(IConnection connection, CancellationToken cancellationToken)
    {
        await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
        try
        {
            var dropped = await channel.QueueDeleteAsync(Topology.LegacyQueuedTapQueue, ifUnused: true, ifEmpty: false, cancellationToken: cancellationToken);
            if (dropped > 0)
            {
                logger.LogInformation("Deleted {Queue}, the queue tap of an earlier version, with {Count} copies in it.", Topology.LegacyQueuedTapQueue, dropped);
            }

            await channel.CloseAsync(cancellationToken);
        }
        catch (RabbitMQ.Client.Exceptions.OperationInterruptedException error)
        {
            logger.LogInformation("Kept {Queue}, the queue tap of an earlier version: {Reason}.", Topology.LegacyQueuedTapQueue, error.Message);
        }
    }
}

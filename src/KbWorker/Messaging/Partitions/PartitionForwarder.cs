using System.Threading.Channels;
using KbSync.Contracts;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using RabbitMQ.Client.Exceptions;

namespace KbSync.KbWorker.Messaging.Partitions;

/// <summary>
/// Forwards what arrives in a drained partition of an older layout to the current layout, in the order it
/// arrived: each request is published to <c>kbsync.requests</c> with its KB's routing key of the current
/// layout (mandatory, with publisher confirms), and acknowledged in the old queue only once the broker has
/// confirmed it. A plain RabbitMQ.Client consumer, one delivery at a time: single active consumer on the
/// old queue and one publishing channel keep the order. If the worker dies between the confirm and the
/// acknowledgement, the request is forwarded twice; the second copy finds its operation done (the
/// <c>KbSync-Operation</c> trailer, the history row) and is answered again, never committed twice. A publish
/// the broker refuses (the new queue is full) is tried again, in place, until it is taken.
/// </summary>
public sealed class PartitionForwarder : IAsyncDisposable
{
    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(1);
    private const ushort Prefetch = 100;
    private readonly PartitionLayout _from;
    private readonly int _index;
    private readonly PartitionLayout _to;
    private readonly Func<CancellationToken, Task<IConnection>> _connect;
    private readonly string _workerUser;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private long _forwarded;

    public PartitionForwarder(PartitionLayout from, int index, PartitionLayout to, Func<CancellationToken, Task<IConnection>> connect, string workerUser, ILogger logger)
    {
        (_from, _index, _to, _connect, _workerUser, _logger) = (from, index, to, connect, workerUser, logger);
        _loop = Task.Run(() => RunAsync(_stop.Token));
    }

    /// <summary>How many requests this forwarder has passed on.</summary>
    public long Forwarded => Interlocked.Read(ref _forwarded);

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await ForwardAsync(cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception error)
            {
                // whatever was not acknowledged is back in the old queue, in order
                _logger.LogWarning("Forwarding {Queue} to {Layout} stopped ({Message}); trying again in {Delay}.", _from.Queue(_index), _to, error.Message, RetryDelay);
                await Task.Delay(RetryDelay, cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }

    private async Task ForwardAsync(CancellationToken cancellationToken)
    {
        var connection = await _connect(cancellationToken);
        var queue = _from.Queue(_index);
        await using var consuming = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
        await using var publishing = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true), cancellationToken);
        await consuming.BasicQosAsync(0, Prefetch, global: false, cancellationToken);
        var deliveries = Channel.CreateUnbounded<BasicDeliverEventArgs>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var consumer = new AsyncEventingBasicConsumer(consuming);
        consumer.ReceivedAsync += (_, delivery) =>
        {
            // the body is the client's buffer: copy it before the handler returns
            deliveries.Writer.TryWrite(new BasicDeliverEventArgs(delivery.ConsumerTag, delivery.DeliveryTag, delivery.Redelivered, delivery.Exchange,
                delivery.RoutingKey, delivery.BasicProperties, delivery.Body.ToArray(), delivery.CancellationToken));
            return Task.CompletedTask;
        };
        consuming.ChannelShutdownAsync += (_, shutdown) =>
        {
            deliveries.Writer.TryComplete(new IOException($"the channel closed: {shutdown.ReplyText}"));
            return Task.CompletedTask;
        };
        await consuming.BasicConsumeAsync(queue, autoAck: false, consumer, cancellationToken);
        _logger.LogInformation("Forwarding {Queue} ({From}, drained) to {To}.", queue, _from, _to);

        while (true)
        {
            var delivery = await deliveries.Reader.ReadAsync(cancellationToken);
            var index = ForwardedRequest.TargetIndex(delivery.Body.Span, _to, _index);
            var properties = ForwardedRequest.PropertiesFor(delivery.BasicProperties, _workerUser, queue);
            try
            {
                await publishing.BasicPublishAsync(Topology.RequestsExchange, _to.RoutingKey(index), mandatory: true, properties, delivery.Body, cancellationToken);
            }
            catch (PublishException refused) when (!refused.IsReturn)
            {
                // on new channels: RabbitMQ 3.10 may go on refusing this channel (README, *A RabbitMQ cluster, and losing a broker node*)
                throw new IOException($"the broker refused a forwarded request ({_to} queue {_to.Queue(index)} full?)", refused);
            }

            await consuming.BasicAckAsync(delivery.DeliveryTag, multiple: false, cancellationToken);
            Interlocked.Increment(ref _forwarded);
        }
    }

    /// <summary>Stops forwarding; what was delivered and not acknowledged goes back to the old queue, in order, when the channel closes.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _loop;
        _stop.Dispose();
    }
}

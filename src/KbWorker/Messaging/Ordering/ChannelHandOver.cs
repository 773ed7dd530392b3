using RabbitMQ.Client;

namespace KbSync.KbWorker.Messaging.Ordering;

/// <summary>
/// Gives a partition to the next worker without reordering it: no new KB group starts, the running ones
/// finish, then the channel is closed. Closing (rather than cancelling the consumer) makes RabbitMQ
/// return every unacknowledged message to the queue in order before it activates the next consumer; a
/// cancel would activate it first, and messages delivered but not yet handed to this consumer would
/// come back behind later ones (should another worker be subscribed too). The requests still waiting
/// in the <see cref="PartitionSequencer"/> fail when the broker confirms the close (its channel shutdown
/// handler), which is what lets the close finish. The caller then stops the endpoint; a channel
/// MassTransit opens again before that is closed at once, so nothing more runs here.
/// </summary>
public sealed class ChannelHandOver(ILogger logger)
{
    private static readonly TimeSpan AckGrace = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan CloseTimeout = TimeSpan.FromSeconds(3);

    public async Task HandOverAsync(PartitionSequencer sequencer, CancellationToken cancellationToken)
    {
        var start = sequencer.BeginHandOver(); // deliveries still queue up (a give-back now would be redelivered at once), but no new KB group starts
        await start.RunReleased.WaitAsync(cancellationToken);
        await Task.Delay(AckGrace, cancellationToken); // let the finished groups' acknowledgements go out first
        if (start.Channel is { IsOpen: true } channel)
        {
            logger.LogInformation("Partition {Partition}: handing over (closing its channel, so waiting requests return to the queue in order)", sequencer.Partition);
            await CloseAsync(channel, cancellationToken);
        }

        sequencer.FinishHandOver(start);
        logger.LogInformation("Partition {Partition}: handed over", sequencer.Partition);
    }

    /// <summary>
    /// Closes the channel, so the broker returns its unacknowledged messages to the queue, in order.
    /// RabbitMQ.Client finishes a close only once every consumer call on the channel has returned; one
    /// that does not (a message still in MassTransit's error pipe, say) would hold the hand-over for ever,
    /// so past <see cref="CloseTimeout"/> the channel is aborted, which returns the messages the same way.
    /// </summary>
    public static async Task CloseAsync(IChannel channel, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(CloseTimeout);
        try
        {
            await channel.CloseAsync(Constants.ReplySuccess, "KbSync worker hands the partition over", timeout.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            await channel.AbortAsync(CancellationToken.None);
        }
        catch (Exception error) when (error is ObjectDisposedException or RabbitMQ.Client.Exceptions.AlreadyClosedException or RabbitMQ.Client.Exceptions.OperationInterruptedException)
        {
            // closed meanwhile (the connection dropped): the broker has returned the messages already
        }
    }
}

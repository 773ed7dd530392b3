namespace KbSync.KbWorker.Messaging.Ordering;

/// <summary>
/// Thrown by the consumer for a message that must go back to its queue unprocessed (its channel is
/// gone, or the partition is stopping). The partition endpoints' error pipe lets it through to the
/// transport instead of moving the message to the error queue, so the broker delivers it again,
/// in order.
/// </summary>
public sealed class ReturnToQueueException(Exception? cause)
    : Exception("The message goes back to its queue unprocessed, to keep its partition's order; it will be delivered again.", cause);

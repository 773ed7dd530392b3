namespace KbSync.Contracts;

/// <summary>
/// A producer's notice that the broker refused one of its publishes (a negative publisher confirm:
/// the partition queue was full). Published to <see cref="Topology.RequestsExchange"/> with routing key
/// <see cref="Topology.RefusedRoutingKey"/>, which only the queue tap is bound with: the tap had been
/// given a copy of the refused publish, and removes the <c>queued</c> row it made for it. Only the row
/// made by the publish whose AMQP <c>message_id</c> is <paramref name="RefusedMessageId"/> is removed,
/// so nobody who does not know that id can remove another's request.
/// </summary>
public sealed record RequestRefused(Guid OperationId, string RefusedMessageId);

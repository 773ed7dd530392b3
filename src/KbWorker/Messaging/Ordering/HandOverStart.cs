using RabbitMQ.Client;

namespace KbSync.KbWorker.Messaging.Ordering;

/// <summary>Where a hand-over began: the running run to wait for, the channel to close after it, and that channel's generation.</summary>
public sealed record HandOverStart(Task RunReleased, IChannel? Channel, int Generation);

using RabbitMQ.Client;

namespace KbSync.KbWorker.Messaging.Ordering;

/// <summary>Where a hand-over began: the running KB groups to wait for (the run), the channel to close after them, and that channel's generation.</summary>
public sealed record HandOverStart(Task RunReleased, IChannel? Channel, int Generation);

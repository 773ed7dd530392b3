using KbSync.Contracts;
using KbSync.Persistence.Partitions;
using KbSync.Producer.Client;
using Microsoft.Extensions.Options;
using RabbitMQ.Client;

namespace KbSync.KbWorker.Messaging.Partitions;

/// <summary>
/// This worker's plain RabbitMQ.Client connection for a change of layout: the forwarders of its drained
/// partitions (<see cref="PartitionForwarder"/>), and the check whether an older layout's queue is empty.
/// Opened at the first need and opened again after a lost connection.
/// </summary>
public sealed class PartitionForwarding(IOptions<RabbitMqOptions> rabbit, ILogger<PartitionForwarder> logger) : IAsyncDisposable
{
    private readonly SemaphoreSlim _opening = new(1, 1);
    private IConnection? _connection;

    public PartitionForwarder Start(PartitionLayout from, int index, PartitionLayout to) =>
        new(from, index, to, ConnectAsync, rabbit.Value.Username, logger);

    /// <summary>How many requests wait in a queue, not counting those delivered to a consumer and not yet acknowledged.</summary>
    public async Task<uint> ReadyCountAsync(string queue, CancellationToken cancellationToken)
    {
        var connection = await ConnectAsync(cancellationToken);
        await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
        var count = (await channel.QueueDeclarePassiveAsync(queue, cancellationToken)).MessageCount;
        await channel.CloseAsync(cancellationToken);
        return count;
    }

    /// <summary>Declares a layout's queues (one that became live since this worker started).</summary>
    public async Task DeclareAsync(PartitionLayout layout, CancellationToken cancellationToken) =>
        await LayoutTopology.DeclareAsync(await ConnectAsync(cancellationToken), layout, rabbit.Value.MaxQueueLength, cancellationToken);

    private async Task<IConnection> ConnectAsync(CancellationToken cancellationToken)
    {
        await _opening.WaitAsync(cancellationToken);
        try
        {
            if (_connection is { IsOpen: true } open)
            {
                return open;
            }

            if (_connection is not null)
            {
                await _connection.DisposeAsync();
            }

            _connection = await BrokerConnection.OpenAsync(rabbit.Value, "kbworker-partition-layouts", cancellationToken);
            return _connection;
        }
        finally
        {
            _opening.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_connection is not null)
        {
            await _connection.DisposeAsync();
        }

        _opening.Dispose();
    }
}

using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using KbSync.Contracts;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace KbSync.IntegrationTests.Fixtures;

/// <summary>
/// A producer that knows nothing of MassTransit: plain RabbitMQ.Client, following docs/wire-format.md
/// word for word, as a program in any other language would.
/// </summary>
public sealed class RawAmqpClient : IAsyncDisposable
{
    private readonly IConnection _connection;
    private readonly IChannel _channel;
    private readonly ConcurrentDictionary<Guid, JsonElement> _results = new();

    private readonly string _userName;

    private RawAmqpClient(IConnection connection, IChannel channel, string userName)
    {
        _connection = connection;
        _channel = channel;
        _userName = userName;
    }

    /// <param name="user">Connect as this broker user (with <paramref name="password"/>); default: the tests' own.</param>
    public static async Task<RawAmqpClient> ConnectAsync(RabbitVirtualHost virtualHost, string? user = null, string password = "test-password")
    {
        var factory = new ConnectionFactory
        {
            HostName = virtualHost.Service.Host,
            Port = virtualHost.Service.Port,
            VirtualHost = virtualHost.Name,
            UserName = user ?? virtualHost.Service.Username,
            Password = user is null ? virtualHost.Service.Password : password,
        };
        var connection = await factory.CreateConnectionAsync();
        var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        var client = new RawAmqpClient(connection, channel, factory.UserName);

        // Results: a private queue bound to both result exchanges (fanout, durable).
        var queue = (await channel.QueueDeclareAsync(queue: "", durable: false, exclusive: true, autoDelete: true)).QueueName;
        foreach (var exchange in new[] { Topology.CompletedExchange, Topology.FailedExchange })
        {
            await channel.ExchangeDeclareAsync(exchange, ExchangeType.Fanout, durable: true);
            await channel.QueueBindAsync(queue, exchange, routingKey: "");
        }

        var consumer = new AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += (_, delivery) =>
        {
            using var envelope = JsonDocument.Parse(delivery.Body);
            var message = envelope.RootElement.GetProperty("message").Clone();
            client._results[message.GetProperty("operationId").GetGuid()] = message;
            return Task.CompletedTask;
        };
        await channel.BasicConsumeAsync(queue, autoAck: true, consumer);
        return client;
    }

    /// <summary>Publishes a JSON body to the requests exchange with the partition of <paramref name="kbId"/> as routing key.</summary>
    /// <param name="userId">The <c>user_id</c> property: by default the connection's own user, as the wire format asks; null: none.</param>
    public async Task PublishAsync(string kbId, string json, int partitions = Topology.DefaultPartitionCount, string contentType = "application/json", string? userId = "")
    {
        var routingKey = Partitioning.PartitionOf(kbId, partitions).ToString();
        var properties = new BasicProperties { ContentType = contentType, DeliveryMode = DeliveryModes.Persistent, UserId = userId == "" ? _userName : userId };
        await _channel.BasicPublishAsync(Topology.RequestsExchange, routingKey, mandatory: true, properties, Encoding.UTF8.GetBytes(json));
    }

    /// <summary>The result event's <c>message</c> object for an operation, once it arrives.</summary>
    public async Task<JsonElement> WaitForResultAsync(Guid operationId, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!_results.ContainsKey(operationId))
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"No result event for {operationId} after {timeout}.");
            }

            await Task.Delay(50);
        }

        return _results[operationId];
    }

    /// <summary>The first result event's <c>message</c> object that matches, once it arrives.</summary>
    public async Task<JsonElement> WaitForResultAsync(Func<JsonElement, bool> match, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (_results.Values.FirstOrDefault(match) is { ValueKind: not JsonValueKind.Undefined } found)
            {
                return found;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"No matching result event after {timeout}.");
            }

            await Task.Delay(50);
        }
    }

    public IReadOnlyCollection<JsonElement> Results => _results.Values.ToList();

    public async ValueTask DisposeAsync()
    {
        await _channel.CloseAsync();
        await _connection.CloseAsync();
        _channel.Dispose();
        _connection.Dispose();
    }
}

using System.Net.Sockets;
using KbSync.Contracts;
using Microsoft.Extensions.Options;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace KbSync.Producer.Client;

/// <summary>
/// The AMQP channel the client publishes requests on: plain RabbitMQ.Client, publisher confirms,
/// <c>mandatory</c>, to <see cref="Topology.RequestsExchange"/>; one channel shared by every publish of the
/// process, opened on first use.
/// <para>
/// Not MassTransit's send, because of what a channel does after a negative confirm. MassTransit keeps
/// publishing on the same channel, and RabbitMQ 3.10 fixes a channel's view of a quorum queue at the
/// channel's first publish to it: when that first publish comes while the queue's record still names
/// a leader on a node that just died, it is refused, and so is every later publish of that channel to
/// that queue until the dead node is back (its <c>rabbit_fifo_client</c> asks the dead node, and never
/// asks anyone else). So after a <c>basic.nack</c> this channel is closed and the next publish opens a
/// new one, which reads the queue's record afresh.
/// </para>
/// <para>
/// While no node answers (or the connection drops mid-publish), a publish waits and tries again every
/// second, up to its cancellation token: a request whose confirm was lost may then be queued twice,
/// under one operation id, which the workers run once (docs/wire-format.md). The connection goes to the
/// first node of <see cref="RabbitMqOptions.Nodes"/> that answers.
/// </para>
/// </summary>
public sealed class RequestChannel(IOptions<RabbitMqOptions> options) : IAsyncDisposable
{
    private static readonly TimeSpan RetryPause = TimeSpan.FromSeconds(1);
    private readonly SemaphoreSlim _opening = new(1, 1);
    private IConnection? _connection;
    private IChannel? _channel;
    private volatile bool _disposed;

    /// <summary>
    /// Publishes <paramref name="body"/> with <paramref name="routingKey"/> and waits for the broker's
    /// confirm. Throws <see cref="PublishNackedException"/> on a negative confirm,
    /// <see cref="PublishReturnedException"/> when no queue is bound to the key, and
    /// <see cref="PublishRefusedException"/> when the broker closes the channel or connection for a reason
    /// that another try would not change.
    /// </summary>
    public async Task PublishAsync(string routingKey, BasicProperties properties, ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
    {
        while (true)
        {
            ObjectDisposedException.ThrowIf(_disposed, this); // its client is gone: waiting for a broker would never end
            IChannel? channel = null;
            try
            {
                channel = await OpenAsync(cancellationToken);
                await channel.BasicPublishAsync(Topology.RequestsExchange, routingKey, mandatory: true, properties, body, cancellationToken);
                return;
            }
            catch (PublishException error) when (error.IsReturn)
            {
                throw new PublishReturnedException($"The broker returned the message: no queue is bound to {Topology.RequestsExchange} with routing key '{routingKey}'.", error);
            }
            catch (PublishException error)
            {
                await DiscardAsync(channel, connectionToo: false); // see the class comment: a refused channel may stay refused
                throw new PublishNackedException($"The broker refused the message (basic.nack) for routing key '{routingKey}'.", error);
            }
            catch (Exception error) when (IsConnectionFailure(error) && Refusal(error) is { } refusal)
            {
                await DiscardAsync(channel, connectionToo: true);
                throw new PublishRefusedException($"The broker refused the publish: {refusal}.", error);
            }
            catch (Exception error) when (IsConnectionFailure(error) && !cancellationToken.IsCancellationRequested)
            {
                await DiscardAsync(channel, connectionToo: true);
                await Task.Delay(RetryPause, cancellationToken);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _disposed = true;
        await DiscardAsync(_channel, connectionToo: true);
        _opening.Dispose();
    }

    private async Task<IChannel> OpenAsync(CancellationToken cancellationToken)
    {
        if (_channel is { IsOpen: true } open)
        {
            return open;
        }

        await _opening.WaitAsync(cancellationToken);
        try
        {
            if (_channel is { IsOpen: true } opened)
            {
                return opened;
            }

            if (_connection is not { IsOpen: true })
            {
                await CloseQuietlyAsync(_connection);
                _connection = await BrokerConnection.OpenAsync(options.Value, "kbsync-client", cancellationToken);
            }

            await CloseQuietlyAsync(_channel);
            _channel = await _connection.CreateChannelAsync(
                new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true), cancellationToken);
            return _channel;
        }
        finally
        {
            _opening.Release();
        }
    }

    /// <summary>Closes <paramref name="channel"/> (and its connection) if it is still the current one, so the next publish opens new ones.</summary>
    private async Task DiscardAsync(IChannel? channel, bool connectionToo)
    {
        if (channel is null)
        {
            return;
        }

        await _opening.WaitAsync();
        try
        {
            if (!ReferenceEquals(channel, _channel))
            {
                return; // another publish has replaced it already
            }

            _channel = null;
            await CloseQuietlyAsync(channel);
            if (connectionToo)
            {
                await CloseQuietlyAsync(_connection);
                _connection = null;
            }
        }
        finally
        {
            _opening.Release();
        }
    }

    private static async Task CloseQuietlyAsync(IAsyncDisposable? closable)
    {
        try
        {
            if (closable is not null)
            {
                await closable.DisposeAsync();
            }
        }
        catch (Exception error) when (IsConnectionFailure(error))
        {
            // it is gone already
        }
    }

    /// <summary>What the broker said when it closed the channel or connection for good reason (no such exchange, access refused, a <c>user_id</c> not the connection's, bad credentials): trying again would not help.</summary>
    private static string? Refusal(Exception error)
    {
        for (var e = error; e is not null; e = e.InnerException)
        {
            if (e is AuthenticationFailureException or PossibleAuthenticationFailureException)
            {
                return $"authentication failed ({e.Message})";
            }

            if (e is OperationInterruptedException { ShutdownReason: { ReplyCode: 403 or 404 or 406 or 530 } reason })
            {
                return $"{reason.ReplyCode} {reason.ReplyText}";
            }
        }

        return null;
    }

    private static bool IsConnectionFailure(Exception error) =>
        error is BrokerUnreachableException or AlreadyClosedException or OperationInterruptedException or ConnectFailureException or IOException or SocketException
            or ObjectDisposedException;
}

/// <summary>The broker refused a publish with a negative publisher confirm: nothing was queued.</summary>
public sealed class PublishNackedException(string message, Exception inner) : Exception(message, inner);

/// <summary>The broker closed the channel or connection for a publish (no such exchange, access refused, bad credentials): nothing was queued.</summary>
public sealed class PublishRefusedException(string message, Exception inner) : Exception(message, inner);

/// <summary>The broker returned a mandatory publish: no queue is bound to its routing key.</summary>
public sealed class PublishReturnedException(string message, Exception inner) : Exception(message, inner);

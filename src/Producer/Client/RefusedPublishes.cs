using System.Collections.Concurrent;
using KbSync.Contracts;
using MassTransit;

namespace KbSync.Producer.Client;

/// <summary>
/// Turns the broker's negative publisher confirm into a prompt answer. MassTransit reports a nack as a
/// connection failure and sends the message again until it is taken, so a publish to a full partition
/// queue (<c>x-overflow: reject-publish</c>) would block its caller for as long as the queue stays
/// full. This observer sees each failed attempt: on a nack it cancels that request's send, and
/// <see cref="KbSyncClient"/> reports the queue as full (as it does when the nack reaches it directly).
/// </summary>
public sealed class RefusedPublishes : ISendObserver
{
    private readonly ConcurrentDictionary<Guid, CancellationTokenSource> _sending = new();

    /// <summary>Watches one request's send; the token is cancelled if the broker refuses it.</summary>
    public Watch Start(Guid operationId, CancellationToken cancellationToken)
    {
        var refused = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        _sending[operationId] = refused;
        return new Watch(this, operationId, refused);
    }

    public Task SendFault<T>(SendContext<T> context, Exception exception)
        where T : class
    {
        if (context.Message is KbRequest request && IsNack(exception) && _sending.TryGetValue(request.OperationId, out var send))
        {
            send.Cancel();
        }

        return Task.CompletedTask;
    }

    public Task PreSend<T>(SendContext<T> context)
        where T : class => Task.CompletedTask;

    public Task PostSend<T>(SendContext<T> context)
        where T : class => Task.CompletedTask;

    /// <summary>A negative publisher confirm (not a return, not a lost connection).</summary>
    public static bool IsNack(Exception? error)
    {
        for (; error is not null; error = error.InnerException)
        {
            if (error is MessageNotAcknowledgedException || error is RabbitMQ.Client.Exceptions.PublishException { IsReturn: false })
            {
                return true;
            }
        }

        return false;
    }

    public sealed class Watch(RefusedPublishes owner, Guid operationId, CancellationTokenSource refused) : IDisposable
    {
        public CancellationToken Token => refused.Token;

        /// <summary>The broker refused the request (rather than the caller cancelling).</summary>
        public bool Refused(CancellationToken callerToken) => refused.IsCancellationRequested && !callerToken.IsCancellationRequested;

        public void Dispose()
        {
            owner._sending.TryRemove(operationId, out _);
            refused.Dispose();
        }
    }
}

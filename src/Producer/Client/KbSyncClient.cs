using KbSync.Contracts;
using MassTransit;
using Microsoft.Extensions.Options;

namespace KbSync.Producer.Client;

/// <summary>
/// The .NET client library: publishes KB requests to their partition and, on demand, waits for
/// their result events. Register it with <see cref="ClientExtensions.AddKbSyncClient"/>.
/// </summary>
public sealed class KbSyncClient(IBus bus, RefusedPublishes refusals, IOptions<RabbitMqOptions> options, TimeProvider time)
{
    private readonly int _partitions = options.Value.Partitions;
    private readonly string _brokerUser = options.Value.Username;

    /// <summary>
    /// Publishes a note request and returns its operation id once the broker has it (publisher
    /// confirm). Throws <see cref="ArgumentException"/> for an invalid KB id or empty text, and
    /// <see cref="KbSyncPublishException"/> when no partition queue takes the message.
    /// </summary>
    /// <param name="onBehalfOf">For a trusted relay (the HTTP API): the principal it publishes for; the workers refuse it from anyone else.</param>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1068", Justification = "Published API: onBehalfOf came after the token, and callers pass the token by position")]
    public async Task<Guid> SubmitNoteAsync(string kbId, string requestedBy, NoteContent note, Guid? operationId = null, CancellationToken cancellationToken = default, string? onBehalfOf = null)
    {
        KbIds.Validate(kbId);
        if (string.IsNullOrWhiteSpace(requestedBy))
        {
            throw new ArgumentException("Say who is asking (requested-by): it becomes the commit author.");
        }

        if (string.IsNullOrWhiteSpace(note.Text))
        {
            throw new ArgumentException("The note text is empty.");
        }

        var request = new KbRequest(operationId ?? Guid.NewGuid(), kbId, requestedBy, time.GetUtcNow(), note, OnBehalfOf: onBehalfOf);
        await SendAsync(request, cancellationToken);
        return request.OperationId;
    }

    /// <summary>
    /// Publishes an agent task (the <c>files</c> agent's operations, or an instruction for a configured
    /// external agent) and returns its operation id once the broker has it.
    /// </summary>
    /// <param name="onBehalfOf">For a trusted relay (the HTTP API): the principal it publishes for; the workers refuse it from anyone else.</param>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1068", Justification = "Published API: onBehalfOf came after the token, and callers pass the token by position")]
    public async Task<Guid> SubmitAgentTaskAsync(string kbId, string requestedBy, AgentTaskContent task, Guid? operationId = null, CancellationToken cancellationToken = default, string? onBehalfOf = null)
    {
        KbIds.Validate(kbId);
        if (string.IsNullOrWhiteSpace(requestedBy))
        {
            throw new ArgumentException("Say who is asking (requested-by): it becomes the commit author.");
        }

        if (string.IsNullOrWhiteSpace(task.Instruction))
        {
            throw new ArgumentException("The agent task needs an instruction.");
        }

        var request = new KbRequest(operationId ?? Guid.NewGuid(), kbId, requestedBy, time.GetUtcNow(), AgentTask: task, OnBehalfOf: onBehalfOf);
        await SendAsync(request, cancellationToken);
        return request.OperationId;
    }

    /// <summary>Starts listening for the result of <paramref name="operationId"/>. Call before submitting, so the result cannot be missed.</summary>
    public Task<ResultWatch> WatchAsync(Guid operationId, CancellationToken cancellationToken = default) =>
        ResultWatch.StartAsync(bus, operationId, cancellationToken);

    private async Task SendAsync(KbRequest request, CancellationToken cancellationToken)
    {
        if (RequestLimits.SizeProblem(request) is { } tooLarge)
        {
            throw new RequestTooLargeException(tooLarge);
        }

        var partition = Partitioning.PartitionOf(request.KbId, _partitions);
        var endpoint = await bus.GetSendEndpoint(new Uri($"exchange:{Topology.RequestsExchange}?type=direct"));
        using var refusal = refusals.Start(request.OperationId, cancellationToken);
        var messageId = NewId.NextGuid();
        try
        {
            await endpoint.Send(request, context =>
            {
                context.MessageId = messageId;
                context.SetRoutingKey(Topology.RoutingKey(partition));
                context.Durable = true;
                if (context.TryGetPayload<RabbitMqSendContext>(out var rabbit))
                {
                    rabbit.Mandatory = true;
                    rabbit.BasicProperties.UserId = _brokerUser; // the broker refuses it unless it is this connection's user: the workers trust it
                }
            }, refusal.Token);
        }
        catch (Exception error) when (refusal.Refused(cancellationToken) || RefusedPublishes.IsNack(error))
        {
            await NoticeRefusedAsync(endpoint, new RequestRefused(request.OperationId, messageId.ToString()));
            throw new KbSyncQueueFullException(
                $"Queue full: the broker refused the request for KB '{request.KbId}': partition queue {Topology.PartitionQueue(partition)} is full " +
                "(RabbitMq__MaxQueueLength requests wait already) or has no replica to take it. Nothing was queued; try again when the workers have caught up.", error);
        }
        catch (Exception error) when (error is not OperationCanceledException)
        {
            throw new KbSyncPublishException(
                $"The request for KB '{request.KbId}' could not be handed to partition queue {Topology.PartitionQueue(partition)}: {error.Message}. " +
                "Is a worker started (it declares the queues), and do producers and workers use the same RabbitMq__Partitions?", error);
        }
    }

    /// <summary>
    /// Tells the queue tap that the broker refused the publish: it had a copy of it, and would otherwise
    /// show a request as queued that never will run. Best effort, within <see cref="NoticeTimeout"/>: if the
    /// notice is lost too, the row stays queued until the id is published again or pruned.
    /// </summary>
    private static async Task NoticeRefusedAsync(ISendEndpoint endpoint, RequestRefused notice)
    {
        using var timeout = new CancellationTokenSource(NoticeTimeout);
        try
        {
            await endpoint.Send(notice, context =>
            {
                context.SetRoutingKey(Topology.RefusedRoutingKey);
                context.Durable = true;
            }, timeout.Token);
        }
        catch (Exception error) when (error is not OutOfMemoryException)
        {
            // the refusal itself is what the caller must hear about; the notice only tidies history
        }
    }

    private static readonly TimeSpan NoticeTimeout = TimeSpan.FromSeconds(5);
}

/// <summary>The request is larger than <see cref="RequestLimits"/> allow; nothing was published.</summary>
public sealed class RequestTooLargeException(string message) : ArgumentException(message);

/// <summary>The request could not be handed to the broker; nothing was queued.</summary>
public class KbSyncPublishException(string message, Exception inner) : Exception(message, inner);

/// <summary>The request's partition queue is full (or cannot take it): nothing was queued; publish again later.</summary>
public sealed class KbSyncQueueFullException(string message, Exception inner) : KbSyncPublishException(message, inner);

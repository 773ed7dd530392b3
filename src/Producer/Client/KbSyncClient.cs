using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using KbSync.Contracts;
using MassTransit;
using MassTransit.Logging;
using Microsoft.Extensions.Options;
using RabbitMQ.Client;

namespace KbSync.Producer.Client;

/// <summary>
/// The .NET client library: publishes KB requests to their partition and, on demand, waits for
/// their result events. Register it with <see cref="ClientExtensions.AddKbSyncClient"/>.
/// </summary>
public sealed class KbSyncClient(IBus bus, RequestChannel requests, IOptions<RabbitMqOptions> options, TimeProvider time)
{
    /// <summary>The ActivitySource of the client's publish spans: add it to a program's tracer to trace what it publishes.</summary>
    public const string ActivitySourceName = "KbSync.Client";

    private static readonly ActivitySource Tracing = new(ActivitySourceName);
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

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
        var routingKey = Topology.LayoutRoutingKey(_partitions, partition);
        var messageId = NewId.NextGuid().ToString();
        using var activity = Tracing.StartActivity($"{Topology.RequestsExchange} send", ActivityKind.Producer);
        activity?.SetTag("messaging.system", "rabbitmq");
        activity?.SetTag("messaging.destination.name", Topology.RequestsExchange);
        activity?.SetTag("messaging.rabbitmq.destination.routing_key", routingKey);
        activity?.SetTag("messaging.message.id", messageId);
        activity?.SetTag("kbsync.operation.id", request.OperationId.ToString());
        var properties = new BasicProperties
        {
            ContentType = "application/json",
            DeliveryMode = DeliveryModes.Persistent,
            MessageId = messageId,
            UserId = _brokerUser, // the broker refuses it unless it is this connection's user: the workers trust it
            // MassTransit's receive in the worker continues the trace from this header
            Headers = activity is null ? null : new Dictionary<string, object?> { [DiagnosticHeaders.ActivityId] = activity.Id },
        };
        try
        {
            await requests.PublishAsync(routingKey, properties, JsonSerializer.SerializeToUtf8Bytes(request, Json), cancellationToken);
        }
        catch (PublishNackedException error)
        {
            activity?.SetStatus(ActivityStatusCode.Error, "refused");
            await NoticeRefusedAsync(new RequestRefused(request.OperationId, messageId));
            throw new KbSyncQueueFullException(
                $"Queue full: the broker refused the request for KB '{request.KbId}': partition {partition} of {_partitions} (routing key {routingKey}) is full " +
                "(RabbitMq__MaxQueueLength requests wait already) or has no replica to take it. Nothing was queued; try again when the workers have caught up.", error);
        }
        catch (Exception error) when (error is not OperationCanceledException)
        {
            activity?.SetStatus(ActivityStatusCode.Error, error.Message);
            throw new KbSyncPublishException(
                $"The request for KB '{request.KbId}' could not be handed to partition {partition} of {_partitions} (routing key {routingKey}): {error.Message} " +
                "Is a worker started (it declares the queues), and is RabbitMq__Partitions the count of a live partition layout ('kbsync partitions show')?", error);
        }
    }

    /// <summary>
    /// Tells the queue tap that the broker refused the publish: it had a copy of it, and would otherwise
    /// show a request as queued that never will run. Best effort, within <see cref="NoticeTimeout"/>: if the
    /// notice is lost too, the row stays queued until the id is published again or pruned.
    /// </summary>
    private async Task NoticeRefusedAsync(RequestRefused notice)
    {
        using var timeout = new CancellationTokenSource(NoticeTimeout);
        try
        {
            var properties = new BasicProperties { ContentType = "application/json", DeliveryMode = DeliveryModes.Persistent, UserId = _brokerUser };
            await requests.PublishAsync(Topology.RefusedRoutingKey, properties, JsonSerializer.SerializeToUtf8Bytes(notice, Json), timeout.Token);
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

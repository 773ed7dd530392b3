using System.Text.Json;
using KbSync.Contracts;
using KbSync.KbWorker.Failures;
using KbSync.KbWorker.Messaging.Ordering;
using KbSync.KbWorker.Operations;
using KbSync.Persistence.History;
using MassTransit;

namespace KbSync.KbWorker.Messaging;

/// <summary>
/// The error and dead-letter pipes of the partition endpoints. A message that cannot be read as a
/// request (not JSON, wrong shape, unsupported content type, unknown message type) is recorded as a
/// failed operation with reason <c>malformed_message</c> and an <see cref="OperationFailed"/> event
/// (under its operation id when one can be read from the body), then moved on to the error or
/// skipped queue as usual: nothing lands there unrecorded. A <see cref="ReturnToQueueException"/>
/// is passed through to the transport, which returns the message to its queue.
/// </summary>
public sealed class UnreadableMessageRecorder(OperationWrites writes, IResultPublisher results, ILogger<UnreadableMessageRecorder> logger)
    : IFilter<ExceptionReceiveContext>, IFilter<ReceiveContext>
{
    public async Task Send(ExceptionReceiveContext context, IPipe<ExceptionReceiveContext> next)
    {
        if (IsGiveBack(context.Exception))
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(context.Exception).Throw();
        }

        if (context.Exception is not PoisonRequestException) // recorded and answered already: it only moves to the error queue
        {
            await RecordAsync(context, IsJson(context.ContentType?.MediaType)
            ? $"The message could not be read as a KbRequest: {context.Exception.GetBaseException().Message}"
            : $"The content type {context.ContentType?.MediaType ?? "(none)"} is not one a request may have: publish the JSON request as application/json (docs/wire-format.md).");
        }

        await next.Send(context);
    }

    /// <summary>Dead-letter pipe: a message no consumer on the endpoint takes (its message type is not a KbRequest).</summary>
    public async Task Send(ReceiveContext context, IPipe<ReceiveContext> next)
    {
        await RecordAsync(context, $"The message is not a KbRequest (content type {context.ContentType?.MediaType ?? "none"}); see docs/wire-format.md.");
        await next.Send(context);
    }

    public void Probe(ProbeContext context) => context.CreateFilterScope("record-unreadable");

    /// <summary>The consumer gave the message back (stopping, handing over, channel gone): it returns to its queue, it is not unreadable.</summary>
    private static bool IsGiveBack(Exception? error)
    {
        for (; error is not null; error = error.InnerException)
        {
            if (error is ReturnToQueueException or OperationCanceledException or ConsumerCanceledException)
            {
                return true;
            }
        }

        return false;
    }

    private async Task RecordAsync(ReceiveContext context, string reason)
    {
        reason = Storable.Text(reason, OperationColumns.ErrorMessage); // exception messages may quote the body
        var (operationId, sentOperationId, kbId, requestedBy) = ReadWhatWeCan(context.Body.GetBytes());
        var id = operationId ?? Guid.NewGuid();
        if (operationId is null && sentOperationId is not null)
        {
            reason = Storable.Text($"operationId {sentOperationId} is not a UUID. {reason}", OperationColumns.ErrorMessage);
        }

        var now = DateTimeOffset.UtcNow;
        logger.LogWarning("Unreadable message on {InputAddress} recorded as failed operation {OperationId}: {Reason}", context.InputAddress, id, reason);

        if (!await writes.RecordUnreadableAsync(id, kbId, requestedBy, ReasonCodes.MalformedMessage, reason, now, CancellationToken.None))
        {
            return; // an earlier, readable delivery of the same operation already succeeded
        }

        await results.PublishAsync(new OperationFailed(id, kbId, OperationKind.Note, OperationStatus.Failed, ReasonCodes.MalformedMessage, reason, now,
            operationId is null ? sentOperationId : null), CancellationToken.None);
    }

    /// <summary>
    /// The operation id (and, when it is not a UUID, what was sent, as JSON text), KB and requester,
    /// if the body is JSON that has them (raw or in a MassTransit envelope).
    /// </summary>
    private static (Guid? OperationId, string? Sent, string? KbId, string? RequestedBy) ReadWhatWeCan(byte[] body)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            var root = document.RootElement;
            if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("message", out var message) && message.ValueKind == JsonValueKind.Object)
            {
                root = message;
            }

            if (root.ValueKind != JsonValueKind.Object)
            {
                return (null, null, null, null);
            }

            var hasId = root.TryGetProperty("operationId", out var id) && id.ValueKind is not JsonValueKind.Null;
            Guid? operationId = hasId && id.ValueKind == JsonValueKind.String && id.TryGetGuid(out var guid) && guid != Guid.Empty ? guid : null;
            var sent = hasId && operationId is null ? Storable.Text(id.ValueKind == JsonValueKind.String ? id.GetString() : id.GetRawText(), MaxSentIdLength) : null;
            var kbId = root.TryGetProperty("kbId", out var kb) && kb.ValueKind == JsonValueKind.String && KbIds.IsValid(kb.GetString()) ? kb.GetString() : null;
            var requestedBy = root.TryGetProperty("requestedBy", out var by) && by.ValueKind == JsonValueKind.String ? by.GetString() : null;
            return (operationId, sent, kbId, string.IsNullOrEmpty(requestedBy) ? null : Storable.Text(requestedBy, OperationColumns.RequestedBy));
        }
        catch (JsonException)
        {
            return (null, null, null, null);
        }
    }

    /// <summary>How much of an operation id that is not a UUID is echoed back.</summary>
    private const int MaxSentIdLength = 200;

    private static bool IsJson(string? mediaType) =>
        mediaType is null || mediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase) || mediaType.EndsWith("+json", StringComparison.OrdinalIgnoreCase);
}

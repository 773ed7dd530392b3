using System.Text.Json;
using KbSync.Contracts;
using KbSync.Persistence.History;

namespace KbSync.Persistence.QueueTap;

/// <summary>
/// One message of the queue tap, copied out of the client's buffer: a copy of a request (routing key:
/// a partition number) or a <see cref="RequestRefused"/> notice (<see cref="Topology.RefusedRoutingKey"/>).
/// Read leniently: the body is raw JSON (any AMQP producer) or a MassTransit envelope (the .NET client),
/// and only what the queued row needs is read. Anything else is passed over: it is a copy, and the
/// partition's consumer records what it cannot read.
/// </summary>
public sealed record TapDelivery(ulong DeliveryTag, string RoutingKey, string? MessageId, string? ContentType, byte[] Body)
{
    private const string EnvelopeContentType = "application/vnd.masstransit+json";

    public bool IsRefusal => RoutingKey == Topology.RefusedRoutingKey;

    /// <summary>The request this copy carries, or null if it cannot be read as one.</summary>
    public QueueArrival? ReadArrival()
    {
        if (IsRefusal || ReadMessage() is not { } message || message.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        if (!TryGuid(message, "operationId", out var operationId) || Text(message, "kbId") is not { } kbId)
        {
            return null;
        }

        var requestedAt = message.TryGetProperty("requestedAt", out var at) && at.ValueKind == JsonValueKind.String && at.TryGetDateTimeOffset(out var parsed) ? parsed : default;
        var isAgentTask = Present(message, "agentTask") && !Present(message, "note");
        var request = new KbRequest(operationId, kbId, Text(message, "requestedBy") ?? "", requestedAt,
            isAgentTask ? null : new NoteContent(""), isAgentTask ? new AgentTaskContent("") : null);
        return new QueueArrival(request, MessageId ?? EnvelopeMessageId());
    }

    /// <summary>The refusal this notice carries, or null if it is not one (a notice without the refused publish's id removes nothing).</summary>
    public QueueRefusal? ReadRefusal()
    {
        if (!IsRefusal || ReadMessage() is not { ValueKind: JsonValueKind.Object } message ||
            !TryGuid(message, "operationId", out var operationId) || Text(message, "refusedMessageId") is not { Length: > 0 } refused)
        {
            return null;
        }

        return new QueueRefusal(operationId, refused);
    }

    private JsonElement? ReadMessage()
    {
        try
        {
            using var document = JsonDocument.Parse(Body);
            var root = document.RootElement;
            if (ContentType == EnvelopeContentType)
            {
                return root.ValueKind == JsonValueKind.Object && root.TryGetProperty("message", out var inner) ? inner.Clone() : null;
            }

            return root.Clone();
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private string? EnvelopeMessageId()
    {
        if (ContentType != EnvelopeContentType)
        {
            return null;
        }

        try
        {
            using var document = JsonDocument.Parse(Body);
            return document.RootElement.ValueKind == JsonValueKind.Object ? Text(document.RootElement, "messageId") : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static bool Present(JsonElement message, string name) =>
        message.TryGetProperty(name, out var value) && value.ValueKind is not (JsonValueKind.Null or JsonValueKind.Undefined);

    private static string? Text(JsonElement message, string name) =>
        message.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static bool TryGuid(JsonElement message, string name, out Guid id)
    {
        id = Guid.Empty;
        return message.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String && value.TryGetGuid(out id) && id != Guid.Empty;
    }
}

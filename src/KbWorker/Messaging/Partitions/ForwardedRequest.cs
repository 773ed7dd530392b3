using System.Text;
using System.Text.Json;
using KbSync.Contracts;
using RabbitMQ.Client;

namespace KbSync.KbWorker.Messaging.Partitions;

/// <summary>
/// A request that a drained partition of an older layout passes on to the current layout
/// (<see cref="PartitionForwarder"/>). The broker proves who published a request by its <c>user_id</c>, and
/// lets a publisher set only its own; a forwarded request is published by the worker, so it carries the
/// worker's broker user, and the publisher's proven user in <see cref="UserHeader"/>. Workers believe that
/// header only on a request whose proven user is their own broker user (<see cref="ProvenUser"/>): only a
/// process holding the workers' credentials can publish one.
/// </summary>
public static class ForwardedRequest
{
    /// <summary>The original request's proven <c>user_id</c>; absent when it had none.</summary>
    public const string UserHeader = "kbsync-forwarded-user";

    /// <summary>The queue the request was forwarded from (for inspection: the request itself is unchanged).</summary>
    public const string FromHeader = "kbsync-forwarded-from";

    /// <summary>The partition of <paramref name="to"/> a request body belongs to: its KB's, or, when no KB id can be read (it will fail as malformed wherever it lands), <paramref name="fromIndex"/> modulo the count.</summary>
    public static int TargetIndex(ReadOnlySpan<byte> body, PartitionLayout to, int fromIndex) =>
        KbIdOf(body) is { } kbId ? to.PartitionOf(kbId) : fromIndex % to.Count;

    /// <summary>The <c>kbId</c> of a raw JSON request or of a MassTransit envelope's <c>message</c>; null if none can be read.</summary>
    public static string? KbIdOf(ReadOnlySpan<byte> body)
    {
        try
        {
            using var document = JsonDocument.Parse(body.ToArray());
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return null;
            }

            if (root.TryGetProperty("message", out var message) && message.ValueKind == JsonValueKind.Object && root.TryGetProperty("messageType", out _))
            {
                root = message;
            }

            return root.TryGetProperty("kbId", out var kbId) && kbId.ValueKind == JsonValueKind.String ? kbId.GetString() : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>The properties to forward with: the original's, with the worker's own <c>user_id</c> and the two headers.</summary>
    public static BasicProperties PropertiesFor(IReadOnlyBasicProperties original, string workerUser, string fromQueue)
    {
        var headers = original.Headers is { } given ? new Dictionary<string, object?>(given) : [];
        headers.Remove(UserHeader);
        if (original.IsUserIdPresent())
        {
            headers[UserHeader] = original.UserId;
        }

        headers[FromHeader] = fromQueue;
        var properties = new BasicProperties
        {
            ContentType = original.ContentType,
            ContentEncoding = original.ContentEncoding,
            DeliveryMode = DeliveryModes.Persistent,
            Headers = headers,
            UserId = workerUser,
        };
        if (original.IsMessageIdPresent())
        {
            properties.MessageId = original.MessageId;
        }

        if (original.IsCorrelationIdPresent())
        {
            properties.CorrelationId = original.CorrelationId;
        }

        if (original.IsTimestampPresent())
        {
            properties.Timestamp = original.Timestamp;
        }

        if (original.IsTypePresent())
        {
            properties.Type = original.Type;
        }

        return properties;
    }

    /// <summary>
    /// The broker user a request is from: its proven <c>user_id</c>, except on a request forwarded by a worker
    /// (proven user = <paramref name="workerUser"/> and a <see cref="FromHeader"/>), which is from the user
    /// in <see cref="UserHeader"/>, or from nobody if it has none.
    /// </summary>
    public static string? ProvenUser(string? userId, IDictionary<string, object?>? headers, string workerUser)
    {
        if (userId is null || userId != workerUser || headers is null || !headers.ContainsKey(FromHeader))
        {
            return userId;
        }

        return headers.TryGetValue(UserHeader, out var forwarded) ? forwarded switch
        {
            byte[] bytes => Encoding.UTF8.GetString(bytes),
            string text => text,
            _ => null,
        } : null;
    }
}

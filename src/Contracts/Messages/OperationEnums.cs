using System.Text.Json.Serialization;

namespace KbSync.Contracts;

/// <summary>What an operation does. On the wire and in the database: <c>note</c>, <c>agent</c>.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<OperationKind>))]
public enum OperationKind
{
    [JsonStringEnumMemberName("note")] Note,
    [JsonStringEnumMemberName("agent")] Agent,
}

/// <summary>
/// Where an operation stands. On the wire and in the database: <c>queued</c>, <c>running</c>,
/// <c>succeeded</c>, <c>duplicate</c>, <c>failed</c>, <c>timed_out</c>.
/// </summary>
[JsonConverter(typeof(JsonStringEnumConverter<OperationStatus>))]
public enum OperationStatus
{
    [JsonStringEnumMemberName("queued")] Queued,
    [JsonStringEnumMemberName("running")] Running,
    [JsonStringEnumMemberName("succeeded")] Succeeded,
    /// <summary>The same text was already saved in the KB: nothing was committed.</summary>
    [JsonStringEnumMemberName("duplicate")] Duplicate,
    [JsonStringEnumMemberName("failed")] Failed,
    [JsonStringEnumMemberName("timed_out")] TimedOut,
}

public static class OperationEnumNames
{
    public static bool IsFinal(this OperationStatus status) =>
        status is OperationStatus.Succeeded or OperationStatus.Duplicate or OperationStatus.Failed or OperationStatus.TimedOut;

    /// <summary>The wire and database name: <c>timed_out</c> for <see cref="OperationStatus.TimedOut"/>.</summary>
    public static string ToWireName(this OperationStatus status) => status switch
    {
        OperationStatus.TimedOut => "timed_out",
        _ => status.ToString().ToLowerInvariant(),
    };

    public static string ToWireName(this OperationKind kind) => kind.ToString().ToLowerInvariant();

    public static bool TryParseStatus(string? name, out OperationStatus status)
    {
        foreach (var candidate in Enum.GetValues<OperationStatus>())
        {
            if (string.Equals(candidate.ToWireName(), name, StringComparison.OrdinalIgnoreCase))
            {
                status = candidate;
                return true;
            }
        }

        status = default;
        return false;
    }
}

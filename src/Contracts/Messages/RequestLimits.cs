using System.Text;
using System.Text.Json;

namespace KbSync.Contracts;

/// <summary>
/// The sizes a request may have, checked where it enters (the .NET client, the CLI, the HTTP API with
/// <c>413</c>) and again by the workers, so an oversized request is refused before it fills a queue.
/// docs/wire-format.md lists them for producers in other languages.
/// </summary>
public static class RequestLimits
{
    /// <summary>A note's text, in UTF-8 bytes (the workers' <c>KbWorker__MaxNoteBytes</c> defaults to this).</summary>
    public const int MaxNoteBytes = 1_000_000;

    /// <summary>An agent task's instruction, in characters.</summary>
    public const int MaxInstructionChars = 100_000;

    /// <summary>Operations in one <c>files</c> agent task.</summary>
    public const int MaxOperations = 1000;

    /// <summary><c>requestedBy</c>, in characters.</summary>
    public const int MaxRequesterLength = 200;

    /// <summary>A whole request as JSON (a task's file contents included), in bytes: also the HTTP API's body limit.</summary>
    public const int MaxRequestBytes = 16 * 1024 * 1024;

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>What is too large in the request, or null.</summary>
    /// <param name="maxNoteBytes">The note text's limit, where it is configured (the workers' <c>KbWorker__MaxNoteBytes</c>).</param>
    public static string? SizeProblem(KbRequest request, int maxNoteBytes = MaxNoteBytes)
    {
        if (request.RequestedBy?.Length > MaxRequesterLength)
        {
            return $"requestedBy is longer than {MaxRequesterLength} characters.";
        }

        if (request.Note?.Text is { } text && Encoding.UTF8.GetByteCount(text) > maxNoteBytes)
        {
            return $"The note text is larger than {maxNoteBytes} bytes.";
        }

        if (request.AgentTask is { } task)
        {
            if (task.Instruction?.Length > MaxInstructionChars)
            {
                return $"The instruction is longer than {MaxInstructionChars} characters.";
            }

            if (task.Operations?.Count > MaxOperations)
            {
                return $"At most {MaxOperations} operations in one task.";
            }
        }

        var bytes = JsonSerializer.SerializeToUtf8Bytes(request, Json).Length;
        return bytes > MaxRequestBytes ? $"The request is {bytes} bytes as JSON, more than the limit of {MaxRequestBytes}." : null;
    }
}

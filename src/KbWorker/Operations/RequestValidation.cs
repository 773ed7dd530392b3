using System.Text;
using KbSync.Contracts;
using KbSync.KbWorker.Notes;

namespace KbSync.KbWorker.Operations;

/// <summary>Checks a request before any git work; a bad one fails alone with <c>invalid_request</c> and a message that says what to fix.</summary>
public static class RequestValidation
{
    public const int MaxRequesterLength = RequestLimits.MaxRequesterLength;

    /// <summary>The earliest <c>requestedAt</c> accepted: older dates are a producer's bug (an unset clock), not a note.</summary>
    public static readonly DateTimeOffset EarliestRequestedAt = new(2000, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>How far <c>requestedAt</c> may be ahead of the worker's clock (producers' clocks differ).</summary>
    public static readonly TimeSpan MaxClockSkew = TimeSpan.FromHours(24);

    /// <summary>Null when the request is fine, else what is wrong with it.</summary>
    public static string? Problem(KbRequest request, int maxNoteBytes)
    {
        if (RequestLimits.SizeProblem(request, maxNoteBytes) is { } tooLarge)
        {
            return $"{tooLarge} (KbWorker__MaxNoteBytes for the note text; docs/wire-format.md lists the limits)";
        }

        if (!KbIds.IsValid(request.KbId))
        {
            return $"'{request.KbId}' is not a valid KB id: {KbIds.Rule}.";
        }

        if (string.IsNullOrWhiteSpace(request.RequestedBy) || request.RequestedBy.Length > MaxRequesterLength || request.RequestedBy.Any(char.IsControl))
        {
            return $"requestedBy must name who asked: 1 to {MaxRequesterLength} characters without control characters.";
        }

        if (request.RequestedAt == default)
        {
            return "requestedAt is missing: set it to the time the request was published (ISO 8601, UTC).";
        }

        if (request.RequestedAt < EarliestRequestedAt || request.RequestedAt > DateTimeOffset.UtcNow + MaxClockSkew)
        {
            return $"requestedAt {request.RequestedAt:O} is not the time the request was published: it must be after {EarliestRequestedAt:yyyy-MM-dd} and at most {MaxClockSkew.TotalHours:0} h ahead of the worker's clock (it dates the note and measures the queue wait).";
        }

        if ((request.Note is null) == (request.AgentTask is null))
        {
            return "A request carries exactly one of 'note' and 'agentTask'.";
        }

        if (request.AgentTask is { } task)
        {
            return AgentTaskProblem(task);
        }

        var note = request.Note!;

        if (string.IsNullOrWhiteSpace(note.Text))
        {
            return "The note text is empty.";
        }

        if (Encoding.UTF8.GetByteCount(note.Text) > maxNoteBytes)
        {
            return $"The note text is larger than {maxNoteBytes} bytes (KbWorker__MaxNoteBytes).";
        }

        try
        {
            NoteLayout.CategoryOf(note.Category);
            NoteLayout.TagsOf(note.Tags);
        }
        catch (ArgumentException error)
        {
            return error.Message;
        }

        return null;
    }

    public const int MaxInstructionChars = RequestLimits.MaxInstructionChars;
    public const int MaxOperations = RequestLimits.MaxOperations;

    private static string? AgentTaskProblem(AgentTaskContent task)
    {
        if (string.IsNullOrWhiteSpace(task.Instruction) || task.Instruction.Length > MaxInstructionChars)
        {
            return $"The agent task needs an instruction of 1 to {MaxInstructionChars} characters.";
        }

        var operations = task.Operations ?? [];
        if (task.AgentName == AgentTaskContent.FilesAgent && operations.Count == 0)
        {
            return "The files agent needs operations; name an external agent (agent) to give it the instruction alone.";
        }

        if (task.AgentName != AgentTaskContent.FilesAgent && operations.Count > 0)
        {
            return $"Operations are for the files agent; agent '{task.AgentName}' takes the instruction only.";
        }

        if (operations.Count > MaxOperations)
        {
            return $"At most {MaxOperations} operations in one task.";
        }

        return null;
    }
}

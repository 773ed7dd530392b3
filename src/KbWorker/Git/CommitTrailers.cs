using System.Text;

namespace KbSync.KbWorker.Git;

/// <summary>
/// The trailers KbSync writes at the end of every commit message, and reads back after each fetch:
/// the operation id makes a redelivered request find its earlier commit (exactly-once effect), the
/// content hash makes the same text not be saved twice.
/// </summary>
public sealed record CommitTrailers(Guid OperationId, string? ContentHash, string? NotePath, string CommitSha, string? Principal = null)
{
    public const string OperationKey = "KbSync-Operation";
    public const string ContentKey = "KbSync-Content";
    public const string NoteKey = "KbSync-Note";

    /// <summary>The authenticated principal the commit was made for (also its committer); the author is who the request says asked.</summary>
    public const string PrincipalKey = "KbSync-Principal";

    public static string Message(string subject, Guid operationId, string? contentHash, string? notePath, string? principal = null)
    {
        var message = new StringBuilder(subject.ReplaceLineEndings(" ").Trim()).Append("\n\n");
        message.Append(OperationKey).Append(": ").Append(operationId.ToString("D")).Append('\n');
        if (contentHash is not null)
        {
            message.Append(ContentKey).Append(": ").Append(contentHash).Append('\n');
        }

        if (notePath is not null)
        {
            message.Append(NoteKey).Append(": ").Append(notePath).Append('\n');
        }

        if (principal is not null)
        {
            message.Append(PrincipalKey).Append(": ").Append(principal).Append('\n');
        }

        return message.ToString();
    }

    /// <summary>Reads KbSync's trailers from a commit message; null when it has no operation id.</summary>
    public static CommitTrailers? Parse(string message, string commitSha)
    {
        Guid? operationId = null;
        string? contentHash = null, notePath = null, principal = null;
        foreach (var line in message.Split('\n'))
        {
            var colon = line.IndexOf(": ", StringComparison.Ordinal);
            if (colon <= 0)
            {
                continue;
            }

            var value = line[(colon + 2)..].Trim();
            switch (line[..colon])
            {
                case OperationKey when Guid.TryParse(value, out var id):
                    operationId = id;
                    break;
                case ContentKey:
                    contentHash = value;
                    break;
                case NoteKey:
                    notePath = value;
                    break;
                case PrincipalKey:
                    principal = value;
                    break;
            }
        }

        return operationId is { } op ? new CommitTrailers(op, contentHash, notePath, commitSha, principal) : null;
    }
}

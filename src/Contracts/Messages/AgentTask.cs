namespace KbSync.Contracts;

/// <summary>
/// An agent task: an instruction for an automated editor of the KB. With <see cref="Operations"/>
/// the built-in <c>files</c> agent runs them in order, all or nothing; otherwise <see cref="Agent"/>
/// names an external agent configured on the workers (an LLM coding tool, say).
/// </summary>
/// <param name="Instruction">What to do, in words (given to an external agent on standard input).</param>
/// <param name="Agent">The agent: <c>files</c> (default when operations are given) or the name of a configured external agent.</param>
/// <param name="Operations">Structured file operations for the <c>files</c> agent.</param>
/// <param name="ReadOnly">The task only reads: it takes no write lock, makes no commit, and may run beside a write.</param>
public sealed record AgentTaskContent(
    string Instruction,
    string? Agent = null,
    IReadOnlyList<FileOperation>? Operations = null,
    bool ReadOnly = false)
{
    public const string FilesAgent = "files";

    /// <summary>The agent that runs this task.</summary>
    public string AgentName => string.IsNullOrWhiteSpace(Agent) ? FilesAgent : Agent.Trim();
}

/// <summary>
/// One operation of the <c>files</c> agent. <see cref="Op"/> is one of <see cref="FileOps"/>; which
/// other fields matter depends on it (docs/wire-format.md has the table).
/// </summary>
public sealed record FileOperation(
    string Op,
    string? Path = null,
    string? To = null,
    string? Content = null,
    string? Find = null,
    string? Replace = null,
    string? Mode = null,
    string? ExpectedHash = null,
    string? Pattern = null,
    bool Regex = false,
    int? MaxResults = null);

/// <summary>The operations of the <c>files</c> agent.</summary>
public static class FileOps
{
    public const string ReadFile = "read_file";
    public const string ListDirectory = "list_directory";
    public const string SearchFiles = "search_files";
    public const string SearchContent = "search_content";
    public const string CreateFile = "create_file";
    public const string EditFile = "edit_file";
    public const string DeleteFile = "delete_file";
    public const string MoveFile = "move_file";
    public const string CreateFolder = "create_folder";
    public const string DeleteFolder = "delete_folder";
    public const string MoveFolder = "move_folder";

    /// <summary><see cref="EditFile"/> modes.</summary>
    public const string ModeReplace = "replace";
    public const string ModeAppend = "append";
    public const string ModeSet = "set";

    public static readonly IReadOnlySet<string> Reading = new HashSet<string> { ReadFile, ListDirectory, SearchFiles, SearchContent };

    public static readonly IReadOnlySet<string> All = new HashSet<string>(Reading) { CreateFile, EditFile, DeleteFile, MoveFile, CreateFolder, DeleteFolder, MoveFolder };
}

/// <summary>What an agent task did: in history and in <see cref="OperationCompleted.Agent"/>.</summary>
public sealed record AgentResult(
    string Summary,
    IReadOnlyList<string> Created,
    IReadOnlyList<string> Edited,
    IReadOnlyList<string> Deleted,
    IReadOnlyList<FileMove> Moved,
    IReadOnlyList<OperationOutput> Outputs);

public sealed record FileMove(string From, string To);

/// <summary>The output of one reading operation: its number in the task (from 1), and the text it produced.</summary>
public sealed record OperationOutput(int Index, string Op, string Output)
{
    /// <summary>For <c>read_file</c>: the SHA-256 of the content, to pass as <c>expectedHash</c> to an edit based on this read.</summary>
    public string? Sha256 { get; init; }
}

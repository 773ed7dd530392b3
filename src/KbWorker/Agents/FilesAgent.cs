using System.Text;
using System.Text.RegularExpressions;
using KbSync.Contracts;
using KbSync.KbWorker.Git;
using KbSync.KbWorker.Paths;

namespace KbSync.KbWorker.Agents;

/// <summary>
/// The built-in <c>files</c> agent: runs a task's operations in order on a <see cref="KbWorkspace"/>.
/// The first operation that fails stops the task, names the operation and says why; nothing of the
/// task is committed then: <c>path_conflict</c> when a file stands where the operation needs a folder
/// or a folder where it needs a file (<see cref="PathConflict"/>), <c>agent_failed</c> otherwise. Reading
/// operations return their output in the result.
/// <para>
/// A task is bounded (<see cref="FilesAgentBudget"/>): it stops at its deadline (checked between
/// operations and for each file a search or folder operation goes through), fails once it has read
/// <see cref="FilesAgentLimits.MaxReadBytes"/>, and its outputs together are cut at
/// <see cref="FilesAgentLimits.MaxResultBytes"/>. Without that, a thousand searches over a KB of tens of
/// thousands of files ran on past any deadline, holding the KB's lock and its partition.
/// </para>
/// </summary>
public static class FilesAgent
{
    public const int DefaultMaxResults = 100;
    public const int MaxResultsLimit = 1000;
    public const int MaxOutputChars = 256 * 1024;
    public const int MaxSearchedFileBytes = 1024 * 1024;

    /// <param name="limits">Default: <see cref="FilesAgentLimits.Default"/>.</param>
    /// <param name="cancellationToken">The task's deadline: past it the task stops with <see cref="OperationCanceledException"/>.</param>
    public static AgentResult Run(KbWorkspace workspace, IReadOnlyList<FileOperation> operations, bool readOnly, FilesAgentLimits? limits = null, CancellationToken cancellationToken = default)
    {
        var budget = new FilesAgentBudget(limits ?? FilesAgentLimits.Default, cancellationToken);
        var outputs = new List<OperationOutput>();
        var moves = new List<FileMove>();
        for (var i = 0; i < operations.Count; i++)
        {
            budget.Checkpoint();
            var operation = operations[i];
            var op = Storable(operation.Op?.Trim().ToLowerInvariant() ?? "");
            try
            {
                if (!FileOps.All.Contains(op))
                {
                    throw new ArgumentException($"'{Storable(operation.Op ?? "")}' is not an operation; use one of {string.Join(", ", FileOps.All.Order())}.");
                }

                if (readOnly && !FileOps.Reading.Contains(op))
                {
                    throw new ArgumentException("a read-only task can only read (read_file, list_directory, search_files, search_content).");
                }

                if (Execute(workspace, operation, op, moves, budget) is { } output)
                {
                    outputs.Add(budget.Output(output) with { Index = i + 1 });
                }
            }
            catch (PathConflict conflict)
            {
                throw new AgentFailure(ReasonCodes.PathConflict, AgentFailure.Operation(i + 1, op, conflict.Message).Message);
            }
            catch (Exception error) when (error is ArgumentException or UnsafePathException or RegexMatchTimeoutException or InvalidOperationException)
            {
                throw AgentFailure.Operation(i + 1, op, Storable(error.Message).TrimEnd('.') + ".");
            }
        }

        return Summarize(workspace, operations.Count, moves, outputs);
    }

    private static OperationOutput? Execute(KbWorkspace kb, FileOperation operation, string op, List<FileMove> moves, FilesAgentBudget budget)
    {
        switch (op)
        {
            case FileOps.ReadFile:
            {
                var path = kb.Check(operation.Path);
                var content = kb.FileExists(path) && budget.Read(kb, path) is { } bytes ? bytes : throw new ArgumentException($"there is no file {path}");
                return new OperationOutput(0, op, Cap(Encoding.UTF8.GetString(content))) { Sha256 = KbWorkspace.Hash(content) };
            }

            case FileOps.ListDirectory:
            {
                var folder = string.IsNullOrWhiteSpace(operation.Path) || operation.Path.Trim() is "." or "/" ? "" : kb.Check(operation.Path);
                if (!kb.FolderExists(folder))
                {
                    throw new ArgumentException($"there is no folder {folder}");
                }

                var prefix = folder.Length == 0 ? "" : folder + "/";
                var children = budget.Checked(kb.FilesUnder(folder))
                    .Select(p => p[prefix.Length..])
                    .Select(rest => rest.Contains('/') ? rest[..(rest.IndexOf('/') + 1)] : rest)
                    .Distinct(StringComparer.Ordinal);
                return new OperationOutput(0, op, Cap(string.Join('\n', children)));
            }

            case FileOps.SearchFiles:
            {
                var pattern = Glob.ToRegex(Required(operation.Pattern ?? operation.Path, "pattern"));
                var matches = budget.Checked(kb.AllFiles()).Where(p => pattern.IsMatch(p)).Take(MaxResults(operation));
                return new OperationOutput(0, op, Cap(string.Join('\n', matches)));
            }

            case FileOps.SearchContent:
                return new OperationOutput(0, op, Cap(SearchContent(kb, operation, budget)));

            case FileOps.CreateFile:
            {
                var path = kb.Check(operation.Path);
                if (kb.FileExists(path))
                {
                    throw new ArgumentException($"{path} already exists; use edit_file to change it");
                }

                kb.Write(NotAFolder(kb, path, "a file"), Encoding.UTF8.GetBytes(operation.Content ?? ""));
                return null;
            }

            case FileOps.EditFile:
                Edit(kb, operation, budget);
                return null;

            case FileOps.DeleteFile:
            {
                var path = ExistingFile(kb, operation.Path);
                kb.Delete(path);
                return null;
            }

            case FileOps.MoveFile:
            {
                var from = ExistingFile(kb, operation.Path);
                var to = FreeTarget(kb, operation.To, folder: false);
                kb.Write(to, budget.Read(kb, from)!);
                kb.Delete(from);
                moves.Add(new FileMove(from, to));
                return null;
            }

            case FileOps.CreateFolder:
            {
                var folder = kb.Check(operation.Path);
                if (kb.FileExists(folder))
                {
                    throw PathConflict.FileInTheWay(folder, "a folder");
                }

                if (!kb.FolderExists(folder))
                {
                    kb.Write(folder + "/" + KbWorkspace.FolderKeeper, []);
                }

                return null;
            }

            case FileOps.DeleteFolder:
            {
                var folder = WithoutSpecialEntries(kb, ExistingFolder(kb, operation.Path));
                foreach (var file in budget.Checked(kb.FilesUnder(folder)).ToList())
                {
                    kb.Delete(file);
                }

                return null;
            }

            case FileOps.MoveFolder:
            {
                var from = WithoutSpecialEntries(kb, ExistingFolder(kb, operation.Path));
                var to = FreeTarget(kb, operation.To, folder: true);
                if (to.StartsWith(from + "/", StringComparison.Ordinal))
                {
                    throw new ArgumentException($"cannot move {from} into itself");
                }

                foreach (var file in budget.Checked(kb.FilesUnder(from)).ToList())
                {
                    kb.Write(kb.Check(to + file[from.Length..]), budget.Read(kb, file)!);
                    kb.Delete(file);
                }

                moves.Add(new FileMove(from, to));
                return null;
            }

            default:
                throw new ArgumentException($"'{op}' is not an operation");
        }
    }

    private static void Edit(KbWorkspace kb, FileOperation operation, FilesAgentBudget budget)
    {
        var path = ExistingFile(kb, operation.Path);
        var current = budget.Read(kb, path)!;
        if (operation.ExpectedHash is { Length: > 0 } expected && !string.Equals(expected.Trim(), KbWorkspace.Hash(current), StringComparison.OrdinalIgnoreCase))
        {
            throw new ArgumentException($"{path} changed since it was read (expected sha256 {expected}, it is now {KbWorkspace.Hash(current)}); read it again and redo the edit");
        }

        var text = Encoding.UTF8.GetString(current);
        var edited = (operation.Mode?.Trim().ToLowerInvariant() ?? FileOps.ModeReplace) switch
        {
            FileOps.ModeSet => operation.Content ?? "",
            FileOps.ModeAppend => text + (operation.Content ?? ""),
            FileOps.ModeReplace => ReplaceOnce(path, text, Required(operation.Find, "find"), operation.Replace ?? ""),
            var mode => throw new ArgumentException($"'{mode}' is not an edit mode; use replace, append or set"),
        };
        kb.Write(path, Encoding.UTF8.GetBytes(edited));
    }

    private static string ReplaceOnce(string path, string text, string find, string replace)
    {
        var first = text.IndexOf(find, StringComparison.Ordinal);
        if (first < 0)
        {
            throw new ArgumentException($"the text to replace is not in {path}");
        }

        if (text.IndexOf(find, first + 1, StringComparison.Ordinal) >= 0)
        {
            throw new ArgumentException($"the text to replace occurs more than once in {path}; give more of it so it is unique");
        }

        return string.Concat(text.AsSpan(0, first), replace, text.AsSpan(first + find.Length));
    }

    /// <summary>Files too large or binary are passed over; a file's size is known without reading it, so those cost nothing.</summary>
    private static string SearchContent(KbWorkspace kb, FileOperation operation, FilesAgentBudget budget)
    {
        var query = Required(operation.Pattern ?? operation.Find, "pattern");
        var regex = operation.Regex ? new Regex(query, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1)) : null;
        var folder = string.IsNullOrWhiteSpace(operation.Path) ? "" : ExistingFolder(kb, operation.Path);
        var hits = new List<string>();
        var limit = MaxResults(operation);
        foreach (var file in budget.Checked(kb.FilesUnder(folder)))
        {
            if (kb.SizeOf(file) is not <= MaxSearchedFileBytes || budget.Read(kb, file) is not { } bytes || Array.IndexOf(bytes, (byte)0) >= 0)
            {
                continue;
            }

            var lines = Encoding.UTF8.GetString(bytes).Split('\n');
            for (var n = 0; n < lines.Length && hits.Count < limit; n++)
            {
                var line = lines[n].TrimEnd('\r');
                if (regex?.IsMatch(line) ?? line.Contains(query, StringComparison.OrdinalIgnoreCase))
                {
                    hits.Add($"{file}:{n + 1}: {line}");
                }
            }

            if (hits.Count >= limit)
            {
                break;
            }
        }

        return string.Join('\n', hits);
    }

    private static AgentResult Summarize(KbWorkspace kb, int count, List<FileMove> moves, List<OperationOutput> outputs)
    {
        var changes = kb.Changes();
        // a write where something was moved to, or a removal where something was moved from, is the move itself
        // (a file created where a folder was moved away from is a creation)
        static bool Within(string path, string folder) => path == folder || path.StartsWith(folder + "/", StringComparison.Ordinal);
        var created = changes.Where(c => c.Content is not null && !kb.WasInTip(c.Path) && !moves.Any(m => Within(c.Path, m.To))).Select(c => c.Path).ToList();
        var edited = changes.Where(c => c.Content is not null && kb.WasInTip(c.Path) && !moves.Any(m => Within(c.Path, m.To))).Select(c => c.Path).ToList();
        var deleted = changes.Where(c => c.Content is null && !moves.Any(m => Within(c.Path, m.From))).Select(c => c.Path).ToList();
        var summary = changes.Count == 0
            ? $"Ran {count} operation(s); nothing changed."
            : $"Ran {count} operation(s): {created.Count} created, {edited.Count} edited, {deleted.Count} deleted, {moves.Count} moved.";
        return new AgentResult(summary, created, edited, deleted, moves, outputs);
    }

    private static string ExistingFile(KbWorkspace kb, string? path)
    {
        var checkedPath = kb.Check(path);
        return kb.FileExists(checkedPath) ? checkedPath : throw new ArgumentException($"there is no file {checkedPath}");
    }

    private static string WithoutSpecialEntries(KbWorkspace kb, string folder) =>
        kb.SpecialEntriesUnder(folder).FirstOrDefault() is { } special
            ? throw new ArgumentException($"{folder} holds a symlink or submodule ({special}); the files agent does not move or delete those")
            : folder;

    private static string ExistingFolder(KbWorkspace kb, string? path)
    {
        var checkedPath = kb.Check(path);
        return kb.FolderExists(checkedPath) ? checkedPath : throw new ArgumentException($"there is no folder {checkedPath}");
    }

    /// <summary>Where a file or folder may be moved: nothing there yet; something of the other kind is a path conflict.</summary>
    private static string FreeTarget(KbWorkspace kb, string? path, bool folder)
    {
        var to = kb.Check(Required(path, "to"));
        if (kb.FileExists(to))
        {
            throw folder ? PathConflict.FileInTheWay(to, "a folder") : new ArgumentException($"{to} already exists");
        }

        if (kb.FolderExists(to))
        {
            throw folder ? new ArgumentException($"{to} already exists") : PathConflict.FolderInTheWay(to, kb.AnyEntryUnder(to), "a file");
        }

        return to;
    }

    private static string NotAFolder(KbWorkspace kb, string path, string what) =>
        kb.FolderExists(path) ? throw PathConflict.FolderInTheWay(path, kb.AnyEntryUnder(path), what) : path;

    private static int MaxResults(FileOperation operation) => Math.Clamp(operation.MaxResults ?? DefaultMaxResults, 1, MaxResultsLimit);

    private static string Required(string? value, string name) =>
        string.IsNullOrWhiteSpace(value) ? throw new ArgumentException($"'{name}' is required") : value;

    /// <summary>
    /// Text the history can store: PostgreSQL refuses NUL in text and jsonb, after the work is done, so a
    /// binary file read (or an operation named with a NUL) failed the history write, and the task was
    /// retried again and again. NUL becomes U+FFFD, as undecodable bytes already do; a read's sha256 is of
    /// the real content.
    /// </summary>
    internal static string Storable(string text) => text.Replace('\0', '\uFFFD');

    private static string Cap(string output) =>
        output.Length <= MaxOutputChars ? output : output[..MaxOutputChars] + $"\n… (cut at {MaxOutputChars} characters)";
}

/// <summary>What one files task may spend: bytes read from the KB, and bytes of output returned.</summary>
/// <param name="MaxReadBytes">Files read, searched, edited or moved, all operations together (<c>KbWorker__FilesAgentMaxReadBytes</c>); past it the task fails.</param>
/// <param name="MaxResultBytes">UTF-8 bytes of all outputs together (<c>KbWorker__MaxResultBytes</c>); past it outputs are cut, with a marker.</param>
public sealed record FilesAgentLimits(long MaxReadBytes, long MaxResultBytes)
{
    public const long DefaultMaxReadBytes = 256L * 1024 * 1024;
    public const long DefaultMaxResultBytes = 4L * 1024 * 1024;

    public static FilesAgentLimits Default { get; } = new(DefaultMaxReadBytes, DefaultMaxResultBytes);
}

/// <summary>
/// One files task's spending against its <see cref="FilesAgentLimits"/> and its deadline. The result
/// goes into the history row and the result event: without a total cap, a task of a thousand searches
/// could return a thousand times <see cref="FilesAgent.MaxOutputChars"/>.
/// </summary>
internal sealed class FilesAgentBudget(FilesAgentLimits limits, CancellationToken deadline)
{
    private long _read;
    private long _output;

    /// <summary>Throws <see cref="OperationCanceledException"/> once the task is past its deadline.</summary>
    public void Checkpoint() => deadline.ThrowIfCancellationRequested();

    /// <summary>The paths, with the deadline checked before each.</summary>
    public IEnumerable<string> Checked(IEnumerable<string> paths)
    {
        foreach (var path in paths)
        {
            Checkpoint();
            yield return path;
        }
    }

    /// <summary>A file's content, counted against <see cref="FilesAgentLimits.MaxReadBytes"/>.</summary>
    public byte[]? Read(KbWorkspace kb, string path)
    {
        var content = kb.Read(path);
        _read += content?.Length ?? 0;
        return _read <= limits.MaxReadBytes
            ? content
            : throw new InvalidOperationException($"the task has read more than {limits.MaxReadBytes} bytes of the KB (KbWorker__FilesAgentMaxReadBytes); read or search less (one folder, fewer operations)");
    }

    /// <summary>The output, cut where the task's outputs reach <see cref="FilesAgentLimits.MaxResultBytes"/>; the outputs after that are only a marker.</summary>
    public OperationOutput Output(OperationOutput output)
    {
        output = output with { Output = FilesAgent.Storable(output.Output) };
        var bytes = Encoding.UTF8.GetByteCount(output.Output);
        var left = limits.MaxResultBytes - _output;
        if (bytes <= left)
        {
            _output += bytes;
            return output;
        }

        _output = limits.MaxResultBytes;
        var marker = $"… (cut: this task's outputs reached {limits.MaxResultBytes} bytes, KbWorker__MaxResultBytes)";
        return output with { Output = left <= 0 ? marker : Prefix(output.Output, (int)left) + "\n" + marker };
    }

    /// <summary>The longest start of <paramref name="text"/> of at most <paramref name="bytes"/> UTF-8 bytes, never half a character.</summary>
    private static string Prefix(string text, int bytes)
    {
        var used = 0;
        var end = 0;
        foreach (var rune in text.EnumerateRunes())
        {
            if (used + rune.Utf8SequenceLength > bytes)
            {
                break;
            }

            used += rune.Utf8SequenceLength;
            end += rune.Utf16SequenceLength;
        }

        return text[..end];
    }
}

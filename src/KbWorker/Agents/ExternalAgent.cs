using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using KbSync.Contracts;
using KbSync.KbWorker.Git;
using KbSync.KbWorker.Paths;

namespace KbSync.KbWorker.Agents;

/// <summary>
/// Runs a configured external agent on a copy of the KB's tip (<c>&lt;run&gt;/kb</c>), then turns what it
/// left behind into changes. The whole lot is refused, with nothing committed, if it wrote outside
/// the KB (anything new beside <c>kb/</c> in the run folder, or outside <c>topics/</c> when
/// <see cref="AgentOptions.TopicsOnly"/>), touched a <c>.git</c> name, left a symlink, or passed
/// a size limit. Writes to absolute paths elsewhere on the machine cannot be seen from here: run
/// workers in a container to confine those.
/// </summary>
public static class ExternalAgent
{
    private static readonly string[] RunFolderEntries = ["kb", "home", "tmp"];

    public static async Task<(AgentResult Result, IReadOnlyList<TreeChange> Changes)> RunAsync(
        string name, AgentOptions agent, IKbClone clone, KbRequest request, string runFolder, CancellationToken cancellationToken)
    {
        var kbFolder = Path.Combine(runFolder, "kb");
        var tip = Materialize(clone, kbFolder);
        foreach (var folder in RunFolderEntries.Skip(1))
        {
            Directory.CreateDirectory(Path.Combine(runFolder, folder));
        }

        var workingFolder = agent.TopicsOnly ? Path.Combine(kbFolder, "topics") : kbFolder;
        Directory.CreateDirectory(workingFolder);
        var output = await RunProcessAsync(name, agent, request, runFolder, kbFolder, workingFolder, cancellationToken);

        var escaped = Directory.EnumerateFileSystemEntries(runFolder).Select(Path.GetFileName).Where(e => !RunFolderEntries.Contains(e)).ToList();
        if (escaped.Count > 0)
        {
            throw AgentFailure.Refused($"it wrote outside the KB ({string.Join(", ", escaped)} beside the KB folder).");
        }

        var changes = Diff(agent, tip, kbFolder);
        var result = Describe(changes, tip, output);
        return (result, changes.Select(c => new TreeChange(c.Path, c.Content)).ToList());
    }

    /// <summary>Writes the tip's regular files; returns them by path with their git blob ids. Symlinks and submodules are not copied.</summary>
    private static Dictionary<string, string> Materialize(IKbClone clone, string kbFolder)
    {
        Directory.CreateDirectory(kbFolder);
        var tip = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var entry in clone.Files().Where(e => e.Kind is KbEntryKind.File or KbEntryKind.Executable))
        {
            var target = KbPathGuard.ResolveInside(kbFolder, entry.Path);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.WriteAllBytes(target, clone.ReadBytes(entry.Path)!);
            tip[entry.Path] = entry.Sha;
        }

        return tip;
    }

    private static async Task<string> RunProcessAsync(string name, AgentOptions agent, KbRequest request, string runFolder, string kbFolder, string workingFolder, CancellationToken cancellationToken)
    {
        var info = new ProcessStartInfo(agent.Command)
        {
            WorkingDirectory = workingFolder,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in agent.Arguments)
        {
            info.ArgumentList.Add(argument);
        }

        info.Environment["KBSYNC_INSTRUCTION"] = request.AgentTask!.Instruction;
        info.Environment["KBSYNC_KB_ID"] = request.KbId;
        info.Environment["KBSYNC_KB_ROOT"] = kbFolder;
        info.Environment["KBSYNC_OPERATION_ID"] = request.OperationId.ToString();
        info.Environment["KBSYNC_REQUESTED_BY"] = request.RequestedBy;
        info.Environment["HOME"] = Path.Combine(runFolder, "home");
        info.Environment["TMPDIR"] = Path.Combine(runFolder, "tmp");

        using var process = new Process { StartInfo = info };
        try
        {
            process.Start();
        }
        catch (Exception error) when (error is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            throw new AgentFailure(ReasonCodes.AgentFailed, $"Agent '{name}' could not be started ({agent.Command}): {error.Message}");
        }

        var output = new CappedOutput(agent.MaxOutputBytes);
        var reading = Task.WhenAll(output.ReadAsync(process.StandardOutput), output.ReadAsync(process.StandardError));
        try
        {
            await process.StandardInput.WriteAsync(request.AgentTask.Instruction);
            process.StandardInput.Close();
        }
        catch (IOException)
        {
            // the agent exited or closed its input without reading it all: its exit code tells
        }

        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(agent.TimeLimit);
        try
        {
            await process.WaitForExitAsync(limit.Token);
            await reading.WaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None);
            cancellationToken.ThrowIfCancellationRequested();
            throw new AgentFailure(ReasonCodes.AgentTimedOut, $"Agent '{name}' ran past its time limit of {agent.TimeLimit.TotalSeconds:0.#} s; its processes were killed and nothing was committed. Output: {output.Tail(500)}");
        }

        if (process.ExitCode != 0)
        {
            throw new AgentFailure(ReasonCodes.AgentFailed, $"Agent '{name}' exited with code {process.ExitCode}; nothing was committed. Output: {output.Tail(2000)}");
        }

        return output.Text;
    }

    private sealed record Change(string Path, byte[]? Content, string? Sha);

    private static List<Change> Diff(AgentOptions agent, Dictionary<string, string> tip, string kbFolder)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var changes = new List<Change>();
        long changedBytes = 0;
        foreach (var entry in new DirectoryInfo(kbFolder).EnumerateFileSystemInfos("*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0, ReturnSpecialDirectories = false }))
        {
            var relative = Path.GetRelativePath(kbFolder, entry.FullName).Replace('\\', '/');
            if (entry.LinkTarget is not null)
            {
                throw AgentFailure.Refused($"it left a symlink at {relative}.");
            }

            string path;
            try
            {
                path = KbPathGuard.Normalize(relative);
            }
            catch (UnsafePathException error)
            {
                throw AgentFailure.Refused($"{error.Message}");
            }

            if (entry is not FileInfo file)
            {
                continue;
            }

            seen.Add(path);
            if (file.Length > agent.MaxFileBytes)
            {
                throw AgentFailure.Refused($"{path} is {file.Length} bytes, more than the limit of {agent.MaxFileBytes}.");
            }

            var content = File.ReadAllBytes(file.FullName);
            var sha = GitBlobSha(content);
            if (tip.TryGetValue(path, out var before) && before == sha)
            {
                continue;
            }

            changedBytes += content.Length;
            changes.Add(new Change(path, content, sha));
        }

        changes.AddRange(tip.Keys.Where(p => !seen.Contains(p)).Select(p => new Change(p, null, tip[p])));
        if (agent.TopicsOnly && changes.FirstOrDefault(c => !c.Path.StartsWith("topics/", StringComparison.Ordinal)) is { } outside)
        {
            throw AgentFailure.Refused($"it changed {outside.Path}, outside topics/ (the agent is configured TopicsOnly).");
        }

        if (changes.Count > agent.MaxChangedFiles || changedBytes > agent.MaxChangedBytes)
        {
            throw AgentFailure.Refused($"it changed {changes.Count} files and {changedBytes} bytes; the limits are {agent.MaxChangedFiles} files and {agent.MaxChangedBytes} bytes.");
        }

        return changes.OrderBy(c => c.Path, StringComparer.Ordinal).ToList();
    }

    private static AgentResult Describe(List<Change> changes, Dictionary<string, string> tip, string output)
    {
        var removed = changes.Where(c => c.Content is null).ToList();
        var moves = new List<FileMove>();
        var created = new List<string>();
        foreach (var added in changes.Where(c => c.Content is not null && !tip.ContainsKey(c.Path)))
        {
            var source = removed.FirstOrDefault(r => r.Sha == added.Sha && moves.All(m => m.From != r.Path));
            if (source is null)
            {
                created.Add(added.Path);
            }
            else
            {
                moves.Add(new FileMove(source.Path, added.Path));
            }
        }

        var edited = changes.Where(c => c.Content is not null && tip.ContainsKey(c.Path)).Select(c => c.Path).ToList();
        var deleted = removed.Select(r => r.Path).Where(p => moves.All(m => m.From != p)).ToList();
        return new AgentResult(output.Trim(), created, edited, deleted, moves, []);
    }

    /// <summary>The id git gives this content as a blob: SHA-1 of <c>"blob &lt;length&gt;\0"</c> and the bytes.</summary>
    private static string GitBlobSha(byte[] content)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA1);
        sha.AppendData(Encoding.ASCII.GetBytes($"blob {content.Length}\0"));
        sha.AppendData(content);
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    /// <summary>Standard output and error together, keeping at most a limit; the rest is read and dropped so the agent never blocks on a full pipe.</summary>
    private sealed class CappedOutput(int limit)
    {
        private readonly StringBuilder _text = new();
        private long _dropped;

        public string Text
        {
            get
            {
                lock (_text)
                {
                    return _dropped == 0 ? _text.ToString() : $"{_text}\n… ({_dropped} more characters of output dropped)";
                }
            }
        }

        public string Tail(int characters)
        {
            var text = Text.Trim();
            return text.Length <= characters ? text : "…" + text[^characters..];
        }

        public async Task ReadAsync(StreamReader reader)
        {
            var buffer = new char[8192];
            int read;
            while ((read = await reader.ReadAsync(buffer)) > 0)
            {
                lock (_text)
                {
                    var keep = Math.Clamp(limit - _text.Length, 0, read);
                    _text.Append(buffer, 0, keep);
                    _dropped += read - keep;
                }
            }
        }
    }
}

using System.Security.Cryptography;
using System.Text;
using KbSync.KbWorker.Agents.Sandbox;
using KbSync.KbWorker.Paths;

namespace KbSync.KbWorker.Agents;

/// <summary>A file the agent created, changed (<see cref="Content"/> set) or deleted (null), with its git blob id.</summary>
public sealed record AgentChange(string Path, byte[]? Content, string Sha);

/// <summary>
/// Turns what an external agent left in its run folder into changes to the tip, metadata first and contents
/// last: every entry is looked at without opening it or following it (<see cref="FileMetadata"/>), and the
/// whole lot is refused, before any file is read, if there is anything beside the KB folder, a symlink, a FIFO,
/// a socket, a device, a hard link, a name the path guard refuses, a file over <see cref="AgentOptions.MaxFileBytes"/>,
/// or more changed files or bytes than the limits allow as told by their sizes (a sparse 9 GB file is refused
/// in milliseconds). Only then are contents read, each no further than the size it had. Anything it left that
/// cannot be read (a folder it took the permissions from) is refused too, never retried.
/// </summary>
public static class AgentLeftovers
{
    private sealed record Found(string Path, string FullPath, long Length);

    public static IReadOnlyList<AgentChange> Collect(AgentOptions agent, KbCopy copy, RunFolder run)
    {
        try
        {
            return CollectReadable(agent, copy, run);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            throw AgentFailure.Refused($"what it left could not be read ({error.Message}).");
        }
    }

    private static IReadOnlyList<AgentChange> CollectReadable(AgentOptions agent, KbCopy copy, RunFolder run)
    {
        CheckRunFolder(run);
        var found = Walk(agent, copy, run.Kb);
        var deleted = copy.Files.Keys.Where(p => !found.ContainsKey(p)).ToList();
        var sized = found.Values.Where(f => !copy.Files.TryGetValue(f.Path, out var tip) || tip.Size != f.Length).ToList();
        CheckLimits(agent, sized.Select(f => f.Path).Concat(deleted).ToList(), sized.Sum(f => f.Length));

        var changes = deleted.Select(p => new AgentChange(p, null, copy.Files[p].Sha)).ToList();
        foreach (var file in found.Values)
        {
            var content = Read(file);
            var sha = GitBlobSha(content);
            if (!copy.Files.TryGetValue(file.Path, out var tip) || tip.Sha != sha)
            {
                changes.Add(new AgentChange(file.Path, content, sha));
            }
        }

        CheckLimits(agent, changes.Select(c => c.Path).ToList(), changes.Sum(c => (long)(c.Content?.Length ?? 0)));
        return changes.OrderBy(c => c.Path, StringComparer.Ordinal).ToList();
    }

    /// <summary>Nothing may be beside <c>kb/</c>, <c>home/</c> and <c>tmp/</c>, and <c>kb/</c> must still be a real folder.</summary>
    private static void CheckRunFolder(RunFolder run)
    {
        var escaped = Directory.EnumerateFileSystemEntries(run.Root).Select(Path.GetFileName).Where(e => !RunFolder.Entries.Contains(e)).ToList();
        if (escaped.Count > 0)
        {
            throw AgentFailure.Refused($"it wrote outside the KB ({string.Join(", ", escaped.Take(10))} beside the KB folder).");
        }

        if (FileMetadata.Of(run.Kb)?.Kind != FileKind.Directory)
        {
            throw AgentFailure.Refused("it removed or replaced the KB folder itself.");
        }
    }

    /// <summary>Every regular file under the KB folder by KB-relative path, from metadata alone; refuses anything else.</summary>
    private static Dictionary<string, Found> Walk(AgentOptions agent, KbCopy copy, string kbFolder)
    {
        var found = new Dictionary<string, Found>(StringComparer.Ordinal);
        var newFiles = 0;
        var folders = new Stack<string>();
        folders.Push(kbFolder);
        while (folders.TryPop(out var folder))
        {
            foreach (var fullPath in Directory.EnumerateFileSystemEntries(folder))
            {
                var relative = Path.GetRelativePath(kbFolder, fullPath).Replace('\\', '/');
                var metadata = FileMetadata.Of(fullPath) ?? throw AgentFailure.Refused($"{relative} changed while it was being read.");
                switch (metadata.Kind)
                {
                    case FileKind.Symlink:
                        throw AgentFailure.Refused($"it left a symlink at {relative}.");
                    case FileKind.Directory or FileKind.File:
                        break;
                    default:
                        throw AgentFailure.Refused($"it left {FileMetadata.Describe(metadata.Kind)} at {relative}; only files and folders are taken, and nothing else is opened.");
                }

                var path = Checked(relative);
                if (metadata.Kind == FileKind.Directory)
                {
                    folders.Push(fullPath);
                    continue;
                }

                if (metadata.Links > 1)
                {
                    throw AgentFailure.Refused($"it left a hard link at {path} (a file with {metadata.Links} names); copy files instead.");
                }

                if (metadata.Length > agent.MaxFileBytes)
                {
                    throw AgentFailure.Refused($"{path} is {metadata.Length} bytes, more than the limit of {agent.MaxFileBytes}.");
                }

                if (!copy.Files.ContainsKey(path) && ++newFiles > agent.MaxChangedFiles)
                {
                    throw AgentFailure.Refused($"it created more than {agent.MaxChangedFiles} files, the limit.");
                }

                found[path] = new Found(path, fullPath, metadata.Length);
            }
        }

        return found;
    }

    /// <summary>The KB-relative path as it would be committed; refused unless the path guard takes it as it is.</summary>
    private static string Checked(string relative)
    {
        try
        {
            var path = KbPathGuard.Normalize(relative);
            return path == relative ? path : throw AgentFailure.Refused($"{relative} is not a usable name in a KB (it would be committed as {path}).");
        }
        catch (UnsafePathException error)
        {
            throw AgentFailure.Refused(error.Message);
        }
    }

    private static void CheckLimits(AgentOptions agent, IReadOnlyList<string> changed, long bytes)
    {
        if (agent.TopicsOnly && changed.FirstOrDefault(p => !p.StartsWith("topics/", StringComparison.Ordinal)) is { } outside)
        {
            throw AgentFailure.Refused($"it changed {outside}, outside topics/ (the agent is configured TopicsOnly).");
        }

        if (changed.Count > agent.MaxChangedFiles || bytes > agent.MaxChangedBytes)
        {
            throw AgentFailure.Refused($"it changed {changed.Count} files and {bytes} bytes; the limits are {agent.MaxChangedFiles} files and {agent.MaxChangedBytes} bytes.");
        }
    }

    /// <summary>The file's bytes, no more than the length it had when it was looked at.</summary>
    private static byte[] Read(Found file)
    {
        if (file.Length > Array.MaxLength)
        {
            throw AgentFailure.Refused($"{file.Path} is {file.Length} bytes, more than a file KbSync can take in one piece.");
        }

        using var handle = File.OpenHandle(file.FullPath);
        var content = new byte[file.Length];
        var total = 0;
        int read;
        while (total < content.Length && (read = RandomAccess.Read(handle, content.AsSpan(total), total)) > 0)
        {
            total += read;
        }

        return total == content.Length && RandomAccess.Read(handle, new byte[1], total) == 0
            ? content
            : throw AgentFailure.Refused($"{file.Path} changed while it was being read.");
    }

    /// <summary>The id git gives this content as a blob: SHA-1 of <c>"blob &lt;length&gt;\0"</c> and the bytes.</summary>
    private static string GitBlobSha(byte[] content)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA1);
        sha.AppendData(Encoding.ASCII.GetBytes($"blob {content.Length}\0"));
        sha.AppendData(content);
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }
}

namespace KbSync.KbWorker.Agents.Protection;

/// <summary>
/// The content checks <c>git fsck</c> makes on blobs by the name they have in a tree (fsck.c: <c>fsck_blob</c>),
/// made on what an agent task writes, whoever asked: a <c>.gitmodules</c> in any folder (and any alias of one,
/// <see cref="GitDotfiles"/>), and a <c>.gitattributes</c>. A KB holding a blob that fsck refuses has pushes
/// refused by every remote that checks what it receives (GitHub does; git's <c>transfer.fsckObjects</c>), and the
/// <c>.gitmodules</c> rules are there because each refused form ran commands or leaked credentials on the
/// machines of people who cloned such a repository. Checked for <c>.gitmodules</c>, with fsck's message ids:
/// <list type="bullet">
/// <item><c>gitmodulesName</c>: a <c>submodule.NAME.*</c> whose NAME is empty or has <c>..</c> as a path part
/// (<c>/</c> or <c>\</c> between parts): git keeps a submodule's repository under <c>.git/modules/NAME</c>.</item>
/// <item><c>gitmodulesUrl</c>: a <c>url</c> git refuses (<see cref="SubmoduleUrl"/>; <c>--upload-pack=…</c> first).</item>
/// <item><c>gitmodulesPath</c>: a <c>path</c> starting with <c>-</c>.</item>
/// <item><c>gitmodulesUpdate</c>: an <c>update</c> of <c>!command</c>.</item>
/// </list>
/// KbSync also refuses, where git's fsck only notes it, a <c>.gitmodules</c> that is not valid git-config syntax,
/// or holds a NUL byte or a byte 0xFF: past a syntax error git stops reading, it cuts a value at a NUL, and where
/// C's <c>char</c> is signed (x86) git reads a blob's 0xFF as the end of the file, so another reader (libgit2, a
/// hosting service, git on ARM) may see entries this git never checked. The URL rules are those of git 2.44 and
/// later, stricter than older git's (which parsed HTTP URLs as credentials instead). A <c>.gitattributes</c> is refused like fsck does over 100 MB
/// (<c>gitattributesLarge</c>) or with a line of 2048 bytes or more (<c>gitattributesLineLength</c>).
/// </summary>
public static class GitFsckContent
{
    /// <summary>git's <c>ATTR_MAX_FILE_SIZE</c>.</summary>
    public const long MaxAttributesBytes = 100L * 1024 * 1024;

    /// <summary>git's <c>ATTR_MAX_LINE_LENGTH</c>: a line of this many bytes or more is refused.</summary>
    public const int MaxAttributesLine = 2048;

    /// <summary>What fsck would say about this file at this path (KB-relative), or nothing.</summary>
    public static IReadOnlyList<string> Problems(string path, byte[] content)
    {
        if (GitDotfiles.IsGitmodules(path))
        {
            return GitmodulesProblems(content);
        }

        return GitDotfiles.IsGitattributes(path) ? AttributesProblems(content) : [];
    }

    public static IReadOnlyList<string> GitmodulesProblems(byte[] content)
    {
        if (Array.IndexOf(content, (byte)0) is >= 0 and var nul)
        {
            return [$"gitmodulesParse: a NUL byte at offset {nul} (git would stop reading the value there)"];
        }

        if (Array.IndexOf(content, (byte)0xFF) is >= 0 and var eof)
        {
            return [$"gitmodulesParse: a byte 0xFF at offset {eof} (git reads it as the end of the file on most machines; it is never in UTF-8 text)"];
        }

        var file = GitConfigReader.Read(content);
        var problems = new List<string>();
        foreach (var entry in file.Entries)
        {
            if (Submodule(entry.Name) is not { } submodule)
            {
                continue;
            }

            var (name, key) = submodule;

            if (!IsAllowedName(name))
            {
                problems.Add($"gitmodulesName: disallowed submodule name: {Shown(name)} (line {entry.Line})");
            }

            if (entry.Value is not { } value)
            {
                continue;
            }

            if (key == "url" && !SubmoduleUrl.IsAllowed(value))
            {
                problems.Add($"gitmodulesUrl: disallowed submodule url: {Shown(value)} (line {entry.Line})");
            }
            else if (key == "path" && value.StartsWith('-'))
            {
                problems.Add($"gitmodulesPath: disallowed submodule path: {Shown(value)} (line {entry.Line})");
            }
            else if (key == "update" && value.StartsWith('!'))
            {
                problems.Add($"gitmodulesUpdate: disallowed submodule update setting: {Shown(value)} (line {entry.Line})");
            }
        }

        if (file.ErrorLine is { } line)
        {
            problems.Add($"gitmodulesParse: bad config line {line} (git reads no further)");
        }

        return problems;
    }

    public static IReadOnlyList<string> AttributesProblems(byte[] content)
    {
        if (content.LongLength > MaxAttributesBytes)
        {
            return [$"gitattributesLarge: .gitattributes too large to parse ({content.LongLength} bytes; git's limit is {MaxAttributesBytes})"];
        }

        // like fsck, up to the first NUL
        var length = Array.IndexOf(content, (byte)0) is >= 0 and var nul ? nul : content.Length;
        for (var start = 0; start < length;)
        {
            var newline = Array.IndexOf(content, (byte)'\n', start, length - start);
            var end = newline < 0 ? length : newline;
            if (end - start >= MaxAttributesLine)
            {
                return [$"gitattributesLineLength: .gitattributes has too long lines to parse (a line of {end - start} bytes; git's limit is {MaxAttributesLine - 1})"];
            }

            start = end + 1;
        }

        return [];
    }

    /// <summary>git's <c>parse_config_key(var, "submodule", …)</c>: the subsection (NAME) and the key of <c>submodule.NAME.KEY</c>; null for other variables and for <c>submodule.KEY</c>.</summary>
    private static (string Name, string Key)? Submodule(string variable)
    {
        const string section = "submodule.";
        if (!variable.StartsWith(section, StringComparison.Ordinal))
        {
            return null;
        }

        var dot = variable.LastIndexOf('.');
        return dot < section.Length ? null : (variable[section.Length..dot], variable[(dot + 1)..]);
    }

    /// <summary>git's <c>check_submodule_name</c>: not empty, and no <c>..</c> path part (<c>/</c> and <c>\</c> both separate parts).</summary>
    public static bool IsAllowedName(string name)
    {
        if (name.Length == 0)
        {
            return false;
        }

        for (var i = 0; i <= name.Length; i++)
        {
            var partStart = i == 0 || name[i - 1] is '/' or '\\';
            if (partStart && name.Length - i >= 2 && name[i] == '.' && name[i + 1] == '.' && (i + 2 == name.Length || name[i + 2] is '/' or '\\'))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>A name or value for a message: UTF-8 text, control characters escaped, at most 200 characters.</summary>
    private static string Shown(string latin1)
    {
        var text = GitConfigReader.Text(latin1);
        text = string.Concat(text.Select(c => char.IsControl(c) ? $"\\x{(int)c:x2}" : c.ToString()));
        return text.Length <= 200 ? text : text[..200] + "…";
    }
}

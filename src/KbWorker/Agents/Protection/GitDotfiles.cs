namespace KbSync.KbWorker.Agents.Protection;

/// <summary>
/// The names git treats as one of its own dotfiles (<c>.gitmodules</c>, <c>.gitattributes</c>, <c>.gitignore</c>,
/// <c>.mailmap</c>), as <c>git fsck</c> and checkout recognise them: the name in any case, and what macOS and
/// Windows open as that file: with invisible characters (HFS+), trailing dots and spaces or an NTFS stream, and
/// its 8.3 short names (<c>GITMOD~1</c>, and the hashed <c>GI7EBA~1</c>). A port of git's <c>is_hfs_dot_generic</c>
/// (utf8.c) and <c>is_ntfs_dot_generic</c> (path.c), so that <c>GITMOD~1</c> is protected and checked like
/// <c>.gitmodules</c>: <c>git fsck</c> checks any tree entry so named as a <c>.gitmodules</c>, and a Windows
/// checkout writes it into the real one. The path guard already refuses most of these spellings; this class
/// does not rely on it.
/// </summary>
public static class GitDotfiles
{
    public const string Gitmodules = ".gitmodules";
    public const string Gitattributes = ".gitattributes";
    public const string Gitignore = ".gitignore";
    public const string Mailmap = ".mailmap";

    /// <summary>Each name without its dot, and the prefix of its hashed NTFS short name, as git spells them.</summary>
    private static readonly (string Name, string Needle, string ShortHash)[] Known =
    [
        (Gitmodules, "gitmodules", "gi7eba"),
        (Gitattributes, "gitattributes", "gi7d29"),
        (Gitignore, "gitignore", "gi250a"),
        (Mailmap, "mailmap", "maba30"),
    ];

    /// <summary>The git dotfile a file name (one path component) stands for, or null.</summary>
    public static string? Canonical(string name)
    {
        foreach (var (canonical, needle, shortHash) in Known)
        {
            if (IsHfsDot(name, needle) || IsNtfsDot(name, needle, shortHash))
            {
                return canonical;
            }
        }

        return null;
    }

    /// <summary>True when the last component of a KB path is a <c>.gitmodules</c> to git.</summary>
    public static bool IsGitmodules(string path) => Canonical(LastComponent(path)) == Gitmodules;

    /// <summary>True when the last component of a KB path is a <c>.gitattributes</c> to git.</summary>
    public static bool IsGitattributes(string path) => Canonical(LastComponent(path)) == Gitattributes;

    private static string LastComponent(string path) => path[(path.LastIndexOf('/') + 1)..];

    /// <summary>git's <c>is_hfs_dot_generic</c>: "." and the needle, ASCII case folded, ignoring what HFS+ ignores, and nothing after.</summary>
    private static bool IsHfsDot(string name, string needle)
    {
        var i = 0;
        if (NextHfsChar(name, ref i) != '.')
        {
            return false;
        }

        foreach (var expected in needle)
        {
            var c = NextHfsChar(name, ref i);
            if (c > 127 || ToLowerAscii(c) != expected)
            {
                return false;
            }
        }

        var after = NextHfsChar(name, ref i);
        return after is 0 or '/';
    }

    /// <summary>The next code point HFS+ does not ignore (0 at the end).</summary>
    private static int NextHfsChar(string name, ref int i)
    {
        while (i < name.Length)
        {
            int c = name[i++];
            if (char.IsHighSurrogate((char)c) && i < name.Length && char.IsLowSurrogate(name[i]))
            {
                c = char.ConvertToUtf32((char)c, name[i++]);
            }

            if (c is not (>= 0x200c and <= 0x200f) and not (>= 0x202a and <= 0x202e) and not (>= 0x206a and <= 0x206f) and not 0xfeff)
            {
                return c;
            }
        }

        return 0;
    }

    /// <summary>git's <c>is_ntfs_dot_generic</c>: the name with trailing dots, spaces or a stream, or one of its 8.3 short names.</summary>
    private static bool IsNtfsDot(string name, string needle, string shortHash)
    {
        if (name.Length > needle.Length && name[0] == '.' && EqualsAscii(name, 1, needle, needle.Length))
        {
            return OnlySpacesAndPeriods(name, needle.Length + 1);
        }

        // the regular short name: the first 6 characters, then ~1 to ~4
        if (name.Length >= 8 && EqualsAscii(name, 0, needle, 6) && name[6] == '~' && name[7] is >= '1' and <= '4')
        {
            return OnlySpacesAndPeriods(name, 8);
        }

        // the fall-back short name: a prefix of the hashed name, '~' and digits, 8 characters in all
        var sawTilde = false;
        for (var i = 0; i < 8; i++)
        {
            if (i >= name.Length)
            {
                return false;
            }

            var c = name[i];
            if (sawTilde)
            {
                if (c is < '0' or > '9')
                {
                    return false;
                }
            }
            else if (c == '~')
            {
                if (++i >= name.Length || name[i] is < '1' or > '9')
                {
                    return false;
                }

                sawTilde = true;
            }
            else if (i >= 6 || c >= 0x80 || ToLowerAscii(c) != shortHash[i])
            {
                return false;
            }
        }

        return OnlySpacesAndPeriods(name, 8);
    }

    /// <summary>The rest of the name is only dots and spaces, up to its end or an NTFS stream (<c>:</c>).</summary>
    private static bool OnlySpacesAndPeriods(string name, int from)
    {
        for (var i = from; i < name.Length; i++)
        {
            if (name[i] == ':')
            {
                return true;
            }

            if (name[i] is not (' ' or '.'))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary><paramref name="count"/> characters of <paramref name="name"/> from <paramref name="start"/> equal the needle's first ones, ASCII case folded (as git's <c>strncasecmp</c>).</summary>
    private static bool EqualsAscii(string name, int start, string needle, int count)
    {
        if (name.Length - start < count)
        {
            return false;
        }

        for (var i = 0; i < count; i++)
        {
            if (ToLowerAscii(name[start + i]) != needle[i])
            {
                return false;
            }
        }

        return true;
    }

    private static int ToLowerAscii(int c) => c is >= 'A' and <= 'Z' ? c + 32 : c;
}

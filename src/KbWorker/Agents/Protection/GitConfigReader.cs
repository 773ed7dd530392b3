using System.Text;

namespace KbSync.KbWorker.Agents.Protection;

/// <summary>One variable of a git config file: its full name (<c>submodule.NAME.url</c>, section and key in lower case, the subsection as written) and its value (null for a bare key, git's "true").</summary>
public sealed record GitConfigEntry(string Name, string? Value, int Line);

/// <summary>A git config file as git reads it: its entries up to the first error, and the line of that error (null when there is none).</summary>
public sealed record GitConfigFile(IReadOnlyList<GitConfigEntry> Entries, int? ErrorLine);

/// <summary>
/// Reads a blob in git-config syntax exactly as git does (a port of <c>git_parse_source</c> and the functions it
/// calls in git's config.c): sections <c>[section]</c>, <c>[section "subsection"]</c> and the old
/// <c>[section.subsection]</c>, keys of letters, digits and <c>-</c>, values with quotes, comments, escapes and
/// continued lines, a UTF-8 byte order mark, CR LF. Checking what <c>.gitmodules</c> says means reading it as git
/// will: any other reader (a line regex, an INI library) can be made to see another URL than the one git sees.
/// <para>
/// Bytes are read as Latin-1, one character per byte, so every rule works on git's bytes; names and values are
/// handed out the same way (<see cref="Text"/> turns them back into text for a message). Like git, it stops at the
/// first error and keeps what it read before it.
/// </para>
/// </summary>
public sealed class GitConfigReader
{
    private const int End = -1;
    private const string ByteOrderMark = "\u00EF\u00BB\u00BF";

    private readonly string _bytes;
    private readonly List<GitConfigEntry> _entries = [];
    private int _position;
    private bool _eof;
    private int _line = 1;
    private int _errorLine = 1; // where the construct being read started: the line an error is reported on

    private GitConfigReader(byte[] content) => _bytes = Encoding.Latin1.GetString(content);

    public static GitConfigFile Read(byte[] content)
    {
        var reader = new GitConfigReader(content);
        var ok = reader.ParseSource();
        return new GitConfigFile(reader._entries, ok ? null : reader._errorLine);
    }

    /// <summary>A name or value as readable text: its bytes as UTF-8.</summary>
    public static string Text(string latin1) => Encoding.UTF8.GetString(Encoding.Latin1.GetBytes(latin1));

    /// <summary>git's <c>get_next_char</c>: CR LF is one new line, and the end reads as a new line (again and again).</summary>
    private int Next()
    {
        var c = Read();
        if (c == '\r')
        {
            var after = Read();
            if (after == '\n')
            {
                c = '\n';
            }
            else if (after != End)
            {
                _position--;
            }
        }

        if (c == '\n')
        {
            _line++;
        }

        if (c == End)
        {
            _eof = true;
            c = '\n';
        }

        return c;
    }

    private int Read() => _position < _bytes.Length ? _bytes[_position++] : End;

    private bool ParseSource()
    {
        var comment = false;
        var baseLength = 0;
        var name = new StringBuilder();
        var bom = 0; // how much of a byte order mark has been skipped; -1 once there is none
        for (; ; )
        {
            var c = Next();
            if (bom >= 0 && bom < ByteOrderMark.Length)
            {
                if (c == ByteOrderMark[bom])
                {
                    bom++;
                    continue;
                }

                if (bom > 0)
                {
                    return false; // a partial byte order mark
                }

                bom = -1;
            }

            if (c == '\n')
            {
                if (_eof)
                {
                    return true;
                }

                comment = false;
                continue;
            }

            if (comment || IsSpace(c))
            {
                continue;
            }

            if (c is '#' or ';')
            {
                comment = true;
                continue;
            }

            _errorLine = _line;
            if (c == '[')
            {
                name.Clear();
                if (!GetBaseVar(name) || name.Length < 1)
                {
                    return false;
                }

                name.Append('.');
                baseLength = name.Length;
                continue;
            }

            if (!IsAlpha(c))
            {
                return false;
            }

            name.Length = baseLength;
            name.Append(ToLower(c));
            if (!GetValue(name))
            {
                return false;
            }
        }
    }

    private bool GetValue(StringBuilder name)
    {
        var line = _line;
        int c;
        for (; ; )
        {
            c = Next();
            if (_eof || !IsKeyChar(c))
            {
                break;
            }

            name.Append(ToLower(c));
        }

        while (c is ' ' or '\t')
        {
            c = Next();
        }

        string? value = null;
        if (c != '\n')
        {
            if (c != '=')
            {
                return false;
            }

            value = ParseValue();
            if (value is null)
            {
                return false;
            }
        }

        _entries.Add(new GitConfigEntry(name.ToString(), value, line));
        return true;
    }

    /// <summary>git's <c>parse_value</c>: null for an unterminated quote or an unknown escape.</summary>
    private string? ParseValue()
    {
        var quote = false;
        var comment = false;
        var trimLength = 0;
        var value = new StringBuilder();
        for (; ; )
        {
            var c = Next();
            if (c == '\n')
            {
                if (quote)
                {
                    return null;
                }

                if (trimLength > 0)
                {
                    value.Length = trimLength;
                }

                return value.ToString();
            }

            if (comment)
            {
                continue;
            }

            if (IsSpace(c) && !quote)
            {
                if (trimLength == 0)
                {
                    trimLength = value.Length;
                }

                if (value.Length > 0)
                {
                    value.Append((char)c);
                }

                continue;
            }

            if (!quote && c is ';' or '#')
            {
                comment = true;
                continue;
            }

            trimLength = 0;
            if (c == '\\')
            {
                c = Next();
                switch (c)
                {
                    case '\n':
                        continue;
                    case 't':
                        c = '\t';
                        break;
                    case 'b':
                        c = '\b';
                        break;
                    case 'n':
                        c = '\n';
                        break;
                    case '\\' or '"':
                        break;
                    default:
                        return null;
                }

                value.Append((char)c);
                continue;
            }

            if (c == '"')
            {
                quote = !quote;
                continue;
            }

            value.Append((char)c);
        }
    }

    /// <summary>git's <c>get_base_var</c>: <c>[section]</c> or <c>[section.subsection]</c> in lower case, or on to a quoted subsection.</summary>
    private bool GetBaseVar(StringBuilder name)
    {
        for (; ; )
        {
            var c = Next();
            if (_eof)
            {
                return false;
            }

            if (c == ']')
            {
                return true;
            }

            if (IsSpace(c))
            {
                return GetExtendedBaseVar(name, c);
            }

            if (!IsKeyChar(c) && c != '.')
            {
                return false;
            }

            name.Append(ToLower(c));
        }
    }

    /// <summary>git's <c>get_extended_base_var</c>: <c>"subsection"]</c>, kept as written, <c>\</c> taking the next character as it is.</summary>
    private bool GetExtendedBaseVar(StringBuilder name, int c)
    {
        do
        {
            if (c == '\n')
            {
                return false;
            }

            c = Next();
        }
        while (IsSpace(c));

        if (c != '"')
        {
            return false;
        }

        name.Append('.');
        for (; ; )
        {
            c = Next();
            if (c == '\n')
            {
                return false;
            }

            if (c == '"')
            {
                break;
            }

            if (c == '\\')
            {
                c = Next();
                if (c == '\n')
                {
                    return false;
                }
            }

            name.Append((char)c);
        }

        return Next() == ']';
    }

    /// <summary>git's own ASCII ctype (ctype.c), not the C library's: space is tab, LF, CR and space only.</summary>
    private static bool IsSpace(int c) => c is '\t' or '\n' or '\r' or ' ';

    private static bool IsAlpha(int c) => c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z');

    private static bool IsKeyChar(int c) => IsAlpha(c) || c is (>= '0' and <= '9') or '-';

    private static char ToLower(int c) => (char)(c is >= 'A' and <= 'Z' ? c + 32 : c);
}

using System.Globalization;
using System.Text;

namespace KbSync.KbWorker.Paths;

/// <summary>
/// Stable reason codes of <see cref="UnsafePathException"/>: callers may switch on them and map them to
/// their own error codes. Never change a value once shipped.
/// </summary>
public static class UnsafePathReasons
{
    /// <summary>The path is null, empty, whitespace, or names the KB root itself (e.g. "./").</summary>
    public const string Empty = "empty";
    /// <summary>The path is absolute: leading '/' or '\', drive letter, UNC/device path, or leading '~'.</summary>
    public const string Absolute = "absolute";
    /// <summary>The path has a ".." component (refused even if it would stay inside the KB).</summary>
    public const string Traversal = "traversal";
    /// <summary>A component is ".git" or an alias of it (case, 8.3 short name, trailing dots/spaces, streams, ignorable unicode).</summary>
    public const string GitDir = "git_dir";
    /// <summary>The path contains NUL or another control character (C0, DEL, C1).</summary>
    public const string ControlChar = "control_char";
    /// <summary>A component is a Windows-reserved device name (CON, PRN, AUX, NUL, COM1-9, LPT1-9...), with or without extension.</summary>
    public const string ReservedName = "reserved_name";
    /// <summary>
    /// A component has a character invalid on Windows (&lt; &gt; : " | ? *), an invisible/ignorable formatting
    /// character, a lone surrogate, or ends with a dot or a space.
    /// </summary>
    public const string InvalidChar = "invalid_char";
    /// <summary>The path or one of its components is longer than the limit, in UTF-8 bytes.</summary>
    public const string TooLong = "too_long";
    /// <summary>An existing component on the way (a parent directory or the entry itself) is a symbolic link or another reparse point.</summary>
    public const string Symlink = "symlink";
    /// <summary>The resolved full path is not strictly inside the KB working tree.</summary>
    public const string OutsideRoot = "outside_root";
}

/// <summary>
/// A KB-relative path was refused by <see cref="KbPathGuard"/>. <see cref="Reason"/> is one of
/// <see cref="UnsafePathReasons"/>; <see cref="Exception.Message"/> is meant for the user and quotes the path with
/// control and invisible characters escaped, so it is safe to log and to show.
/// </summary>
public sealed class UnsafePathException : Exception
{
    /// <summary>Longest part of an offending path quoted in a message, in UTF-16 code units (before escaping).</summary>
    private const int MaxQuotedLength = 200;

    public UnsafePathException(string reason, string? path, string message)
        : base(message)
    {
        Reason = reason;
        Path = path ?? string.Empty;
    }

    public UnsafePathException(string reason, string? path, string message, Exception? innerException)
        : base(message, innerException)
    {
        Reason = reason;
        Path = path ?? string.Empty;
    }

    /// <summary>One of <see cref="UnsafePathReasons"/>.</summary>
    public string Reason { get; }

    /// <summary>The offending path exactly as given (unescaped, possibly hostile); empty when it was null.</summary>
    public string Path { get; }

    /// <summary>
    /// Quotes <paramref name="value"/> for a message: wrapped in double quotes; '\' and '"' backslash-escaped;
    /// control characters, invisible formatting characters, line/paragraph separators and lone surrogates written
    /// as \uXXXX; cut after <see cref="MaxQuotedLength"/> code units with an ellipsis.
    /// </summary>
    public static string Quote(string? value)
    {
        if (value is null)
        {
            return "(null)";
        }

        var builder = new StringBuilder(Math.Min(value.Length, MaxQuotedLength) + 8);
        builder.Append('"');
        var index = 0;
        for (; index < value.Length && index < MaxQuotedLength; index++)
        {
            var c = value[index];
            if (char.IsHighSurrogate(c) && index + 1 < value.Length && char.IsLowSurrogate(value[index + 1]))
            {
                if (index + 1 >= MaxQuotedLength)
                {
                    break; // never cut a pair in half
                }

                builder.Append(c).Append(value[index + 1]);
                index++;
                continue;
            }

            switch (c)
            {
                case '\\':
                    builder.Append("\\\\");
                    break;
                case '"':
                    builder.Append("\\\"");
                    break;
                default:
                    if (NeedsEscape(c))
                    {
                        builder.Append("\\u").Append(((int)c).ToString("X4", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        builder.Append(c);
                    }

                    break;
            }
        }

        builder.Append('"');
        if (index < value.Length)
        {
            builder.Append(CultureInfo.InvariantCulture, $"… ({value.Length} characters in all)");
        }

        return builder.ToString();
    }

    private static bool NeedsEscape(char c) =>
        char.IsControl(c)
        || char.IsSurrogate(c) // only lone ones reach here
        || c is '\u2028' or '\u2029'
        || KbPathGuard.IsIgnorable(c);
}

using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace KbSync.UnitTests.Notes;

/// <summary>
/// A strict reader of the YAML a note's front matter may hold, written from the YAML 1.2 spec for
/// these tests: one <c>key: value</c> per line, where a value is a double-quoted scalar (every escape
/// of spec 5.7, nothing else after a backslash), a flow sequence of them, or a plain scalar that no YAML
/// reader takes for anything but a string, date or id. Anything else, or a character outside YAML's
/// printable set (spec 5.1), or a byte order mark inside the document, fails the test.
/// </summary>
internal static partial class StrictYaml
{
    private static readonly UTF8Encoding Strict = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>The front matter between the <c>---</c> lines: each key with its value (a string, or a list of strings).</summary>
    public static List<(string Key, object Value)> FrontMatter(string file)
    {
        Assert.StartsWith("---\n", file, StringComparison.Ordinal);
        var end = file.IndexOf("\n---\n", 3, StringComparison.Ordinal);
        Assert.True(end > 0, "the front matter has no closing ---");
        var entries = new List<(string, object)>();
        foreach (var line in file[4..end].Split('\n'))
        {
            AssertPrintable(line);
            var entry = Entry().Match(line);
            Assert.True(entry.Success, $"not a 'key: value' line: {line}");
            entries.Add((entry.Groups["key"].Value, Value(entry.Groups["value"].Value)));
        }

        return entries;
    }

    private static object Value(string text)
    {
        if (text.StartsWith('"'))
        {
            var position = 0;
            var value = DoubleQuoted(text, ref position);
            Assert.Equal(text.Length, position);
            return value;
        }

        if (text.StartsWith('['))
        {
            var items = new List<string>();
            var position = 1;
            while (text[position] != ']')
            {
                items.Add(DoubleQuoted(text, ref position));
                if (text[position] == ',')
                {
                    Assert.Equal(' ', text[position + 1]);
                    position += 2;
                }
            }

            Assert.Equal(text.Length, position + 1);
            return items;
        }

        Assert.Matches(Plain(), text);
        return text;
    }

    /// <summary>A double-quoted scalar starting at <paramref name="position"/>; leaves it after the closing quote.</summary>
    private static string DoubleQuoted(string text, ref int position)
    {
        Assert.Equal('"', text[position++]);
        var value = new StringBuilder();
        while (true)
        {
            Assert.True(position < text.Length, $"unterminated double-quoted scalar: {text}");
            var c = text[position++];
            if (c == '"')
            {
                return value.ToString();
            }

            if (c != '\\')
            {
                value.Append(c);
                continue;
            }

            var escape = text[position++];
            switch (escape)
            {
                case '0': value.Append('\0'); break;
                case 'a': value.Append('\a'); break;
                case 'b': value.Append('\b'); break;
                case 't' or '\t': value.Append('\t'); break;
                case 'n': value.Append('\n'); break;
                case 'v': value.Append('\v'); break;
                case 'f': value.Append('\f'); break;
                case 'r': value.Append('\r'); break;
                case 'e': value.Append('\u001b'); break;
                case ' ' or '"' or '/' or '\\': value.Append(escape); break;
                case 'N': value.Append('\u0085'); break;
                case '_': value.Append('\u00a0'); break;
                case 'L': value.Append('\u2028'); break;
                case 'P': value.Append('\u2029'); break;
                case 'x': value.Append(Hex(text, ref position, 2)); break;
                case 'u': value.Append(Hex(text, ref position, 4)); break;
                case 'U': value.Append(Hex(text, ref position, 8)); break;
                default: Assert.Fail($"'\\{escape}' is not a YAML escape: {text}"); break;
            }
        }
    }

    private static string Hex(string text, ref int position, int digits)
    {
        var code = int.Parse(text.AsSpan(position, digits), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
        position += digits;
        Assert.False(code is >= 0xD800 and <= 0xDFFF, $"a surrogate escape is no character: {text}");
        return char.ConvertFromUtf32(code);
    }

    /// <summary>YAML 1.2 c-printable, without line breaks (one value per line), and no byte order mark inside the document.</summary>
    private static void AssertPrintable(string line)
    {
        Strict.GetBytes(line); // throws on a lone surrogate, which has no UTF-8 form
        foreach (var rune in line.EnumerateRunes())
        {
            var c = rune.Value;
            var printable = c is 0x9 or 0x85 or (>= 0x20 and <= 0x7E) or (>= 0xA0 and <= 0xD7FF) or (>= 0xE000 and <= 0xFFFD) or (>= 0x10000 and <= 0x10FFFF);
            Assert.True(printable && c != 0xFEFF, $"U+{c:X4} may not stand unescaped in YAML: {line}");
            Assert.False(c is 0x2028 or 0x2029 or 0x85, $"U+{c:X4} is a line break to YAML 1.1 readers: {line}");
        }
    }

    [GeneratedRegex("^(?<key>[a-z_]+): (?<value>.+)$")]
    private static partial Regex Entry();

    /// <summary>Plain scalars the layout writes: a category slug starting with a letter, a UTC time, an id.</summary>
    [GeneratedRegex("^(?:[a-z][a-z0-9-]*(?:/[a-z][a-z0-9-]*)?|\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}Z|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")]
    private static partial Regex Plain();
}

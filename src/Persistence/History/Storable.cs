using System.Text;
using KbSync.Contracts;

namespace KbSync.Persistence.History;

/// <summary>
/// Makes any string a producer or a KB can put in front of us storable in PostgreSQL and safe in an
/// event: PostgreSQL refuses <c>\0</c> in <c>text</c> and <c>\u0000</c> or a lone surrogate in
/// <c>jsonb</c>, and either refusal used to turn a bad request into a retry loop. Every such
/// character becomes U+FFFD (the Unicode replacement character), and text longer than its column is
/// cut at a character boundary with a closing <c>…</c>. Column lengths are in <see cref="OperationColumns"/>.
/// </summary>
public static class Storable
{
    public const char Replacement = '\uFFFD';
    private const string Ellipsis = "…";

    public static string Text(string? value, int maxLength = int.MaxValue)
    {
        if (string.IsNullOrEmpty(value))
        {
            return "";
        }

        var clean = IsClean(value) ? value : Replace(value);
        return clean.Length <= maxLength ? clean : Cut(clean, maxLength);
    }

    public static string? TextOrNull(string? value, int maxLength = int.MaxValue) => value is null ? null : Text(value, maxLength);

    /// <summary>
    /// An agent task's result, every string made storable, and at most <paramref name="maxBytes"/> of
    /// summary and outputs (UTF-8) in all: outputs past the budget are cut, each saying how much was
    /// left out and which setting caps it. The lists of changed files are facts about the commit and
    /// are kept whole (their number is bounded by the agents' own limits).
    /// </summary>
    public static AgentResult Result(AgentResult result, long maxBytes, string setting)
    {
        var budget = maxBytes;
        var summary = Within(Text(result.Summary), ref budget, setting);
        var outputs = new List<OperationOutput>(result.Outputs.Count);
        foreach (var output in result.Outputs)
        {
            outputs.Add(output with { Op = Text(output.Op, 64), Output = Within(Text(output.Output), ref budget, setting), Sha256 = TextOrNull(output.Sha256, 64) });
        }

        return new AgentResult(
            summary,
            result.Created.Select(p => Text(p)).ToList(),
            result.Edited.Select(p => Text(p)).ToList(),
            result.Deleted.Select(p => Text(p)).ToList(),
            result.Moved.Select(m => new FileMove(Text(m.From), Text(m.To))).ToList(),
            outputs);
    }

    private static string Within(string text, ref long budget, string setting)
    {
        var bytes = Encoding.UTF8.GetByteCount(text);
        if (bytes <= budget)
        {
            budget -= bytes;
            return text;
        }

        var keep = (int)Math.Max(0, Math.Min(budget, int.MaxValue));
        var kept = CutBytes(text, keep);
        budget = 0;
        return $"{kept}\n… (truncated: {bytes - Encoding.UTF8.GetByteCount(kept)} more bytes; a task's result is capped by {setting})";
    }

    private static bool IsClean(string value)
    {
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (c == '\0')
            {
                return false;
            }

            if (char.IsSurrogate(c))
            {
                if (!char.IsHighSurrogate(c) || i + 1 >= value.Length || !char.IsLowSurrogate(value[i + 1]))
                {
                    return false;
                }

                i++;
            }
        }

        return true;
    }

    private static string Replace(string value)
    {
        var text = new StringBuilder(value.Length);
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
            {
                text.Append(c).Append(value[++i]);
            }
            else
            {
                text.Append(c == '\0' || char.IsSurrogate(c) ? Replacement : c);
            }
        }

        return text.ToString();
    }

    private static string Cut(string value, int maxLength)
    {
        if (maxLength <= Ellipsis.Length)
        {
            return value[..Boundary(value, maxLength)];
        }

        return value[..Boundary(value, maxLength - Ellipsis.Length)] + Ellipsis;
    }

    /// <summary>The longest prefix of at most <paramref name="length"/> chars that does not split a surrogate pair.</summary>
    private static int Boundary(string value, int length) =>
        length > 0 && length < value.Length && char.IsHighSurrogate(value[length - 1]) ? length - 1 : length;

    private static string CutBytes(string value, int maxBytes)
    {
        if (Encoding.UTF8.GetByteCount(value) <= maxBytes)
        {
            return value;
        }

        var (low, high) = (0, Math.Min(value.Length, maxBytes));
        while (low < high)
        {
            var middle = (low + high + 1) / 2;
            if (Encoding.UTF8.GetByteCount(value.AsSpan(0, Boundary(value, middle))) <= maxBytes)
            {
                low = middle;
            }
            else
            {
                high = middle - 1;
            }
        }

        return value[..Boundary(value, low)];
    }
}

/// <summary>The length limits of the <c>operations</c> table's text columns, in characters: the model and every writer use these.</summary>
public static class OperationColumns
{
    public const int RequestedBy = 200;
    public const int Title = 500;
    public const int NotePath = 1000;
    public const int CommitSha = 64;
    public const int ErrorCode = 64;
    public const int ErrorMessage = 8000;
    public const int WorkerId = 100;

    /// <summary><c>kind</c>, <c>status</c> and <c>step</c> hold wire names (<c>timed_out</c>, <c>process</c>…), all short.</summary>
    public const int Kind = 16;

    /// <inheritdoc cref="Kind"/>
    public const int Status = 16;

    /// <inheritdoc cref="Kind"/>
    public const int Step = 16;

    /// <summary>An AMQP <c>message_id</c> (a short string); longer ones are not kept, so they cannot be retracted.</summary>
    public const int MessageId = 100;
}

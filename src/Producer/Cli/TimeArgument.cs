using System.Globalization;

namespace KbSync.Producer.Cli;

/// <summary>
/// A point in time on the command line: an ISO 8601 time (<c>2026-11-28</c>, <c>2026-11-28T09:00Z</c>;
/// without an offset it is UTC), or an age such as <c>90m</c>, <c>24h</c>, <c>7d</c> meaning that long ago.
/// </summary>
internal static class TimeArgument
{
    public static DateTimeOffset Parse(string text, DateTimeOffset now, string option)
    {
        if (TryParseAge(text.Trim()) is { } age)
        {
            return now - age;
        }

        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var at))
        {
            return at;
        }

        throw new ArgumentException($"{option} '{text}' is neither an ISO 8601 time (2026-11-28T09:00Z) nor an age such as 90m, 24h or 7d.");
    }

    /// <summary>A duration such as <c>15m</c>, <c>6h</c>, <c>30d</c>; null when the text is not one.</summary>
    public static TimeSpan? TryParseAge(string text)
    {
        if (text.Length < 2 || !int.TryParse(text.AsSpan(0, text.Length - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var count) || count == 0)
        {
            return null;
        }

        return text[^1] switch
        {
            'm' => TimeSpan.FromMinutes(count),
            'h' => TimeSpan.FromHours(count),
            'd' => TimeSpan.FromDays(count),
            _ => null,
        };
    }
}

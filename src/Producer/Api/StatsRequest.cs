using System.Globalization;
using System.Text.RegularExpressions;
using KbSync.Persistence.Analytics;

namespace KbSync.Producer.Api;

/// <summary>
/// The query string of <c>GET /stats</c> and <c>GET /kbs/{kb}/stats</c> (and the options of
/// <c>kbsync stats</c>) turned into an <see cref="AnalyticsQuery"/>: <c>since</c> and <c>until</c> in
/// ISO 8601 or as an age meaning that long ago (<c>90m</c>, <c>24h</c>, <c>7d</c>; default: the last
/// <see cref="DefaultRange"/>), <c>bucket</c> as <c>90s</c>, <c>5m</c>, <c>1h</c>, <c>1d</c> or
/// <c>00:05:00</c> (default: the round size <see cref="AnalyticsQuery.ResolveBucket"/> chooses).
/// Throws <see cref="ArgumentException"/> saying what is wrong.
/// </summary>
public static partial class StatsRequest
{
    public static readonly TimeSpan DefaultRange = TimeSpan.FromHours(24);

    public static AnalyticsQuery Parse(string? kbId, string? since, string? until, string? bucket, DateTimeOffset now)
    {
        var end = until is null ? now : ParseTime(until, nameof(until), now);
        var start = since is null ? end - DefaultRange : ParseTime(since, nameof(since), now);
        var query = new AnalyticsQuery(kbId, start, end, bucket is null ? null : ParseDuration(bucket, nameof(bucket)));
        query.ResolveBucket(); // validates: throws ArgumentException with the reason
        return query;
    }

    /// <summary>An ISO 8601 time, or an age (<c>90m</c>, <c>24h</c>, <c>7d</c>) meaning that long before <paramref name="now"/>; <paramref name="name"/> names it in the error.</summary>
    public static DateTimeOffset ParseTime(string value, string name, DateTimeOffset now)
    {
        if (ShortDuration().IsMatch(value))
        {
            return now - ParseDuration(value, name);
        }

        return DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var time)
            ? time
            : throw new ArgumentException($"{name} '{value}' is not a time: use ISO 8601, e.g. 2030-03-01T12:00:00Z, or an age such as 90m, 24h or 7d.", name);
    }

    /// <summary>A duration written <c>90s</c>, <c>5m</c>, <c>1h</c>, <c>1d</c> or <c>00:05:00</c>; <paramref name="name"/> names it in the error.</summary>
    public static TimeSpan ParseDuration(string value, string name)
    {
        if (ShortDuration().Match(value) is { Success: true } match && long.TryParse(match.Groups[1].Value, CultureInfo.InvariantCulture, out var amount) && amount <= 1_000_000)
        {
            return match.Groups[2].Value switch
            {
                "s" => TimeSpan.FromSeconds(amount),
                "m" => TimeSpan.FromMinutes(amount),
                "h" => TimeSpan.FromHours(amount),
                _ => TimeSpan.FromDays(amount),
            };
        }

        return TimeSpan.TryParseExact(value, "c", CultureInfo.InvariantCulture, out var span)
            ? span
            : throw new ArgumentException($"{name} '{value}' is not a duration: use e.g. 90s, 5m, 1h, 1d or 00:05:00.", name);
    }

    [GeneratedRegex("^([0-9]+)(s|m|h|d)$")]
    private static partial Regex ShortDuration();
}

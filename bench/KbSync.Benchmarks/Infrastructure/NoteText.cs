using System.Text;

namespace KbSync.Benchmarks.Infrastructure;

/// <summary>
/// Deterministic, realistic-looking note text: titles of a few words, bodies of 1 to 2 KB in short
/// paragraphs (prose compresses like prose, unlike random bytes), over a fixed set of categories.
/// </summary>
public sealed class NoteText(int seed)
{
    /// <summary>~20 categories, a few of them two levels deep, as a team KB grows them.</summary>
    public static readonly string[] Categories =
    [
        "architecture", "operations", "security", "onboarding", "incidents", "meetings", "decisions",
        "research", "howto", "tooling", "releases", "customers", "product", "design", "data",
        "tech/dotnet", "tech/git", "tech/postgres", "tech/rabbitmq", "ideas",
    ];

    private static readonly string[] Words =
    [
        "queue", "partition", "worker", "commit", "push", "fetch", "branch", "remote", "index", "note",
        "lock", "retry", "timeout", "history", "latency", "throughput", "deploy", "rollback", "schema",
        "migration", "service", "client", "request", "response", "token", "secret", "review", "design",
        "decision", "incident", "alert", "metric", "dashboard", "log", "trace", "cluster", "node",
        "replica", "backup", "restore", "config", "feature", "flag", "release", "version", "bug", "fix",
        "test", "build", "pipeline", "cache", "database", "table", "column", "query", "plan", "cost",
        "team", "meeting", "customer", "support", "ticket", "runbook", "owner", "budget", "risk",
        "the", "a", "we", "should", "could", "will", "not", "because", "when", "after", "before", "with",
        "without", "every", "one", "two", "each", "all", "new", "old", "small", "large", "fast", "slow",
        "safe", "simple", "first", "last", "again", "today", "tomorrow", "later", "maybe", "always",
    ];

    private readonly Random _random = new(seed);

    public string Category(int i) => Categories[i % Categories.Length];

    public string Title(int words = 0)
    {
        var count = words > 0 ? words : _random.Next(3, 8);
        var title = new StringBuilder();
        for (var i = 0; i < count; i++)
        {
            var word = Words[_random.Next(Words.Length)];
            title.Append(i == 0 ? char.ToUpperInvariant(word[0]) + word[1..] : word).Append(i + 1 < count ? " " : "");
        }

        return title.ToString();
    }

    /// <summary>Paragraphs of sentences, <paramref name="minBytes"/> to <paramref name="maxBytes"/> long.</summary>
    public string Body(int minBytes = 1000, int maxBytes = 2000)
    {
        var target = _random.Next(minBytes, maxBytes + 1);
        var body = new StringBuilder();
        var sentences = 0;
        while (body.Length < target)
        {
            var words = _random.Next(6, 16);
            for (var i = 0; i < words; i++)
            {
                var word = Words[_random.Next(Words.Length)];
                body.Append(i == 0 ? char.ToUpperInvariant(word[0]) + word[1..] : word).Append(i + 1 < words ? " " : ". ");
            }

            if (++sentences % 4 == 0)
            {
                body.Length--;
                body.Append("\n\n");
            }
        }

        return body.ToString().TrimEnd();
    }

    public IReadOnlyList<string> Tags() => Enumerable.Range(0, _random.Next(0, 4)).Select(_ => Words[_random.Next(Words.Length)]).Distinct().ToList();

    public int Next(int max) => _random.Next(max);

    /// <summary>Lowercase ASCII letters and digits joined by '-', at most 50 characters (as the worker slugs titles).</summary>
    public static string Slugify(string text)
    {
        var slug = new StringBuilder();
        foreach (var c in text)
        {
            if (char.IsAsciiLetterOrDigit(c))
            {
                slug.Append(char.ToLowerInvariant(c));
            }
            else if (slug.Length > 0 && slug[^1] != '-')
            {
                slug.Append('-');
            }
        }

        var result = slug.ToString().Trim('-');
        return result.Length > 50 ? result[..50].TrimEnd('-') : result;
    }
}

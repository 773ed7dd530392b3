using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using KbSync.Contracts;

namespace KbSync.Benchmarks.Infrastructure;

/// <summary>One note of a run: the same title, category and text go to KbSync and to the baseline.</summary>
public sealed record BenchNote(string KbId, int Sequence, Guid OperationId, string Title, string Category, string Text)
{
    public static BenchNote Make(string kbId, int sequence, NoteText text, string runId)
    {
        var title = $"Bench note {sequence} {text.Title(3)}";
        return new BenchNote(kbId, sequence, Guid.NewGuid(), title, text.Category(sequence), $"Note {sequence} of run {runId} for KB {kbId}.\n\n{text.Body()}");
    }

    public NoteContent Content => new(Text, Title, Category, ["bench"]);
}

/// <summary>What one baseline writer did with one note (times from the start of the run).</summary>
public sealed record CliSample(BenchNote Note, int Writer, double PublishedMs, double StartedMs, double FinishedMs, bool Succeeded, string? Error)
{
    public double EndToEndMs => FinishedMs - PublishedMs;
}

/// <summary>
/// The baseline: "original-style" writers, as KB writers were before KbSync. Each writer is its own
/// loop with its own clone of every KB (a working tree, made by <c>git clone</c> before measuring).
/// Per note it runs one process, <c>flock &lt;kb&gt;.lock sh -c '…'</c>: under an exclusive file lock
/// shared by all writers of that KB, <c>git pull --ff-only</c>, write the note file, append its line to
/// <c>index.md</c>, <c>git add</c>, <c>git commit</c>, <c>git push</c>. The notes are taken from one
/// queue in publish order by whichever writer is free. Same notes, same kind of remote as KbSync's.
/// </summary>
public sealed class GitCliWriters
{
    private const string Script = """
        set -e
        cd "$CLONE"
        git pull -q --ff-only origin main
        mkdir -p "$(dirname "$NOTE_PATH")"
        cat "$NOTE_FILE" > "$NOTE_PATH"
        printf '%s\n' "$INDEX_LINE" >> index.md
        git add -- "$NOTE_PATH" index.md
        git commit -q -F "$MESSAGE_FILE"
        git push -q origin HEAD:main
        """;

    private readonly string _folder;
    private readonly int _writers;
    private readonly IReadOnlyDictionary<string, string> _remotes;

    public GitCliWriters(string folder, int writers, IReadOnlyDictionary<string, string> remotes)
    {
        _folder = folder;
        _writers = writers;
        _remotes = remotes;
    }

    /// <summary>Clones every KB once per writer (not measured), at most 8 clones at a time.</summary>
    public async Task PrepareAsync(CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(Path.Combine(_folder, "locks"));
        Directory.CreateDirectory(Path.Combine(_folder, "notes"));
        using var gate = new SemaphoreSlim(8);
        var clones = from w in Enumerable.Range(0, _writers) from kb in _remotes select (w, kb.Key, kb.Value);
        await Task.WhenAll(clones.Select(async c =>
        {
            await gate.WaitAsync(cancellationToken);
            try
            {
                var path = ClonePath(c.w, c.Key);
                await ProcessRunner.CheckedAsync("git", ["clone", "-q", "-b", "main", c.Value, path], cancellationToken: cancellationToken);
                foreach (var (key, value) in new[] { ("user.name", $"writer {c.w}"), ("user.email", "writer@bench.invalid"), ("gc.auto", "0") })
                {
                    await ProcessRunner.CheckedAsync("git", ["-C", path, "config", key, value], cancellationToken: cancellationToken);
                }
            }
            finally
            {
                gate.Release();
            }
        }));
    }

    /// <summary>
    /// Writes <paramref name="notes"/>, published all at once at the start (they are queued, in this
    /// order, before the first writer starts): returns one sample per note, in publish order.
    /// </summary>
    public async Task<List<CliSample>> RunAsync(IReadOnlyList<BenchNote> notes, CancellationToken cancellationToken)
    {
        var queue = new ConcurrentQueue<(int Index, BenchNote Note)>(notes.Select((n, i) => (i, n)));
        var samples = new CliSample?[notes.Count];
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, _writers).Select(w => Task.Run(async () =>
        {
            while (queue.TryDequeue(out var item))
            {
                var started = clock.Elapsed.TotalMilliseconds;
                var (ok, error) = await WriteAsync(w, item.Note, cancellationToken);
                samples[item.Index] = new CliSample(item.Note, w, 0, started, clock.Elapsed.TotalMilliseconds, ok, error);
            }
        }, cancellationToken)));
        return [.. samples.Select(s => s!)];
    }

    private string ClonePath(int writer, string kbId) => Path.Combine(_folder, $"w{writer}", kbId);

    private async Task<(bool, string?)> WriteAsync(int writer, BenchNote note, CancellationToken cancellationToken)
    {
        var now = DateTime.UtcNow;
        var path = $"topics/{note.Category}/{now:yyyy-MM-dd}-{NoteText.Slugify(note.Title)}.md";
        var noteFile = Path.Combine(_folder, "notes", note.OperationId.ToString("N") + ".md");
        var messageFile = Path.Combine(_folder, "notes", note.OperationId.ToString("N") + ".msg");
        await File.WriteAllTextAsync(noteFile,
            $"---\ntitle: \"{note.Title}\"\ncategory: {note.Category}\ntags: [\"bench\"]\ncreated_at: {now:yyyy-MM-ddTHH:mm:ssZ}\nauthor: \"kbsync-bench\"\noperation_id: {note.OperationId:D}\n---\n\n{note.Text}\n",
            cancellationToken); // UTF-8 without a byte order mark, as git and the worker write
        await File.WriteAllTextAsync(messageFile, $"Add note: {note.Title}\n\nKbSync-Operation: {note.OperationId:D}\n", cancellationToken);
        var environment = new Dictionary<string, string>
        {
            ["CLONE"] = ClonePath(writer, note.KbId),
            ["NOTE_PATH"] = path,
            ["NOTE_FILE"] = noteFile,
            ["MESSAGE_FILE"] = messageFile,
            ["INDEX_LINE"] = $"- [{note.Title}]({path}) - {now:yyyy-MM-dd} - `{note.Category}`",
        };
        var result = await ProcessRunner.RunAsync("flock", [Path.Combine(_folder, "locks", note.KbId + ".lock"), "sh", "-c", Script], environment, cancellationToken: cancellationToken);
        return result.ExitCode == 0 ? (true, null) : (false, result.Combined);
    }
}

/// <summary>What a remote's history says about a run's notes: one commit each, and in which order.</summary>
public sealed record RemoteCheck(int Expected, int CommitsFound, int Distinct, bool OrderKept, int OutOfOrder)
{
    public bool EachOwnCommit => CommitsFound == Expected && Distinct == Expected;

    public string Verdict => $"{CommitsFound}/{Expected} commits with trailers{(Distinct != CommitsFound ? $" ({Distinct} distinct)" : "")}, " +
                             (OrderKept ? "publish order kept" : $"order NOT kept ({OutOfOrder} notes before an earlier-published one)");

    /// <summary>
    /// Reads the <c>KbSync-Operation</c> trailers of the first-parent history of <c>main</c> in the
    /// bare repository at <paramref name="remotePath"/> and compares them with <paramref name="published"/>
    /// (the run's notes for that KB, in publish order).
    /// </summary>
    public static async Task<RemoteCheck> OfAsync(string remotePath, IReadOnlyList<Guid> published, CancellationToken cancellationToken)
    {
        var log = await ProcessRunner.CheckedAsync("git",
            ["-C", remotePath, "log", "--first-parent", "--reverse", "--format=%(trailers:key=KbSync-Operation,valueonly,separator=%x2C)", "main"],
            cancellationToken: cancellationToken);
        var wanted = published.ToHashSet();
        var found = log.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(l => Guid.TryParse(l, out var id) ? id : Guid.Empty)
            .Where(wanted.Contains)
            .ToList();
        var rank = published.Select((id, i) => (id, i)).ToDictionary(x => x.id, x => x.i);
        var outOfOrder = 0;
        var highest = -1;
        foreach (var id in found)
        {
            if (rank[id] < highest)
            {
                outOfOrder++;
            }

            highest = Math.Max(highest, rank[id]);
        }

        return new RemoteCheck(published.Count, found.Count, found.Distinct().Count(), outOfOrder == 0 && found.SequenceEqual(published), outOfOrder);
    }
}

/// <summary>Small number formatting shared by the issue #6 scenarios.</summary>
public static class Fmt
{
    public static string Ratio(double kbsync, double baseline) =>
        double.IsFinite(kbsync / baseline) && baseline > 0 ? (kbsync / baseline).ToString(kbsync / baseline < 1 ? "N2" : "N1", CultureInfo.InvariantCulture) + "x" : "-";

    public static string Rate(double notesPerSecond) => notesPerSecond.ToString("N1", CultureInfo.InvariantCulture);

    public static string Ms(double ms) => double.IsFinite(ms) ? ms.ToString("N0", CultureInfo.InvariantCulture) : "-";
}

using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace KbSync.Benchmarks.Infrastructure;

/// <summary>What a seeded remote holds. <see cref="IndexBytes"/>: the index file the next note appends to.</summary>
public sealed record SeededKb(string RemotePath, int Files, long IndexBytes, long NoteBytes, long RepositoryBytes, TimeSpan Took);

/// <summary>How a seeded KB indexes its notes.</summary>
public enum IndexLayout
{
    /// <summary>KbSync's: a file per month, <c>index/&lt;YYYY-MM&gt;.md</c>, linked from <c>index.md</c>.</summary>
    Monthly,

    /// <summary>The original system's: one <c>index.md</c> with a line per note (the baseline's remotes).</summary>
    Single,
}

/// <summary>
/// Builds a bare remote that looks like a KB KbSync has been writing to for a while: one commit
/// with <c>N</c> notes under <c>topics/&lt;category&gt;/&lt;date&gt;-&lt;slug&gt;.md</c> (front matter as the
/// worker writes it, 1 to 2 KB each, ~20 categories, dates spread evenly over the two years up to
/// today) and their index lines in the given <see cref="IndexLayout"/>. Written with one
/// <c>git fast-import</c> (seconds for 10,000 files); this cost is never measured.
/// </summary>
public static class KbSeeder
{
    public static async Task<SeededKb> SeedAsync(string remotePath, int files, int seed, IndexLayout layout, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        Directory.CreateDirectory(Path.GetDirectoryName(remotePath)!);
        await ProcessRunner.CheckedAsync("git", ["init", "-q", "--bare", "-b", "main", remotePath], cancellationToken: cancellationToken);

        var text = new NoteText(seed);
        var stream = new MemoryStream();
        var paths = new List<string>(files);
        var taken = new HashSet<string>(StringComparer.Ordinal);
        var index = new StringBuilder("# Index\n\n");
        var months = new SortedDictionary<string, StringBuilder>(StringComparer.Ordinal);
        var firstDay = DateTimeOffset.UtcNow.Date.AddDays(-730);
        long noteBytes = 0;
        for (var i = 0; i < files; i++)
        {
            var createdAt = new DateTimeOffset(firstDay, TimeSpan.Zero).AddMinutes(730.0 * 24 * 60 * i / files);
            var category = text.Category(text.Next(NoteText.Categories.Length));
            var title = text.Title();
            var path = $"topics/{category}/{createdAt:yyyy-MM-dd}-{NoteText.Slugify(title)}.md";
            for (var n = 2; !taken.Add(path); n++)
            {
                path = $"topics/{category}/{createdAt:yyyy-MM-dd}-{NoteText.Slugify(title)}-{n}.md";
            }

            var content = Render(title, category, text.Tags(), createdAt, $"user{text.Next(40)}", Guid.CreateVersion7(createdAt), text.Body());
            noteBytes += WriteBlob(stream, i + 1, content);
            paths.Add(path);
            if (layout == IndexLayout.Single)
            {
                index.Append(CultureInfo.InvariantCulture, $"- [{title}]({path}) - {createdAt:yyyy-MM-dd} - `{category}`\n");
                continue;
            }

            var month = createdAt.ToString("yyyy-MM", CultureInfo.InvariantCulture);
            if (!months.TryGetValue(month, out var monthIndex))
            {
                months[month] = monthIndex = new StringBuilder($"# Notes of {month}\n\n");
                index.Append(CultureInfo.InvariantCulture, $"- [{month}](index/{month}.md)\n");
            }

            monthIndex.Append(CultureInfo.InvariantCulture, $"- [{title}](../{path}) - {createdAt:yyyy-MM-dd} - `{category}`\n");
        }

        // the index files: index.md (mark files + 1), then the months' files (marks after the commit's)
        var indexFiles = new List<(string Path, int Mark)> { ("index.md", files + 1) };
        var indexBytes = WriteBlob(stream, files + 1, index.ToString());
        foreach (var (month, monthIndex) in months)
        {
            var mark = files + 2 + indexFiles.Count;
            var bytes = WriteBlob(stream, mark, monthIndex.ToString());
            indexFiles.Add(($"index/{month}.md", mark));
            if (month == DateTime.UtcNow.ToString("yyyy-MM", CultureInfo.InvariantCulture))
            {
                indexBytes = bytes;
            }
        }

        var when = DateTimeOffset.UtcNow.AddDays(-1).ToUnixTimeSeconds();
        var message = $"Seed {files} notes (kbsync-bench)\n";
        var commit = new StringBuilder();
        commit.Append(CultureInfo.InvariantCulture, $"commit refs/heads/main\nmark :{files + 2}\n");
        commit.Append(CultureInfo.InvariantCulture, $"author KbSync bench <bench@kbsync.invalid> {when} +0000\n");
        commit.Append(CultureInfo.InvariantCulture, $"committer KbSync bench <bench@kbsync.invalid> {when} +0000\n");
        commit.Append(CultureInfo.InvariantCulture, $"data {Encoding.UTF8.GetByteCount(message)}\n{message}");
        for (var i = 0; i < files; i++)
        {
            commit.Append(CultureInfo.InvariantCulture, $"M 100644 :{i + 1} {paths[i]}\n");
        }

        foreach (var (path, mark) in indexFiles)
        {
            commit.Append(CultureInfo.InvariantCulture, $"M 100644 :{mark} {path}\n");
        }

        commit.Append('\n');
        stream.Write(Encoding.UTF8.GetBytes(commit.ToString()));

        stream.Position = 0;
        await ProcessRunner.CheckedAsync("git", ["--git-dir", remotePath, "fast-import", "--quiet"],
            writeInput: input => stream.CopyToAsync(input, cancellationToken), cancellationToken: cancellationToken);
        return new SeededKb(remotePath, files, indexBytes, noteBytes, FolderBytes(remotePath), clock.Elapsed);
    }

    public static long FolderBytes(string path) =>
        Directory.Exists(path) ? new DirectoryInfo(path).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length) : 0;

    /// <summary>The note file as the worker renders it (NoteLayout.Render): YAML front matter, a blank line, the text.</summary>
    private static string Render(string title, string category, IReadOnlyList<string> tags, DateTimeOffset createdAt, string author, Guid operationId, string body)
    {
        var file = new StringBuilder("---\n");
        file.Append(CultureInfo.InvariantCulture, $"title: \"{title}\"\ncategory: {category}\n");
        if (tags.Count > 0)
        {
            file.Append("tags: [").AppendJoin(", ", tags.Select(t => $"\"{t}\"")).Append("]\n");
        }

        file.Append(CultureInfo.InvariantCulture, $"created_at: {createdAt:yyyy-MM-ddTHH:mm:ssZ}\nauthor: \"{author}\"\noperation_id: {operationId:D}\n---\n\n");
        file.Append("# ").Append(title).Append("\n\n").Append(body).Append('\n');
        return file.ToString();
    }

    /// <summary>A fast-import blob with a mark; returns its size.</summary>
    private static long WriteBlob(Stream stream, int mark, string content)
    {
        var bytes = Encoding.UTF8.GetBytes(content);
        stream.Write(Encoding.ASCII.GetBytes($"blob\nmark :{mark}\ndata {bytes.Length}\n"));
        stream.Write(bytes);
        stream.WriteByte((byte)'\n');
        return bytes.Length;
    }
}

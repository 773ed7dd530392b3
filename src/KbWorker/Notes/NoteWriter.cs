using System.Diagnostics;
using KbSync.KbWorker.Git;
using KbSync.KbWorker.Identity;
using KbSync.KbWorker.Paths;
using KbSync.KbWorker.Pipeline;
using Microsoft.Extensions.Options;

namespace KbSync.KbWorker.Notes;

/// <summary>
/// Turns a note request into one commit on the clone's tip: the note file (its path through the
/// one path guard, <c>-2</c>, <c>-3</c> on collision) and its line in the month's index file, which
/// is linked from <c>index.md</c> when the note creates it. Text already saved in the KB is not
/// saved again: the outcome is a duplicate and nothing is committed. A file where the layout needs a
/// folder, or a folder where it needs a file, moves the note or index to the next free sibling name
/// (<see cref="NoteLayout.ResolveFolder"/>); a note with no place at all fails with <c>path_conflict</c>.
/// </summary>
public sealed class NoteWriter(IOptions<KbWorkerOptions> options)
{
    private readonly string _emailDomain = options.Value.AuthorEmailDomain;

    /// <summary>The note on the clone's tip; returns its outcome and the time spent processing and committing it, which the runner charges to the request.</summary>
    public Applied Apply(IKbClone clone, PendingOperation operation)
    {
        var step = Stopwatch.StartNew();
        var request = operation.Request;
        var note = request.Note!;
        var title = NoteLayout.TitleOf(note);
        var contentHash = NoteLayout.ContentHash(note.Text);
        if (clone.ContainsContent(contentHash))
        {
            return new Applied(OperationOutcome.Duplicate(title), step.Elapsed.TotalMilliseconds, 0);
        }

        var category = NoteLayout.CategoryOf(note.Category);
        var slug = SafeText.Slugify(title);
        var folder = FolderIn(clone, NoteLayout.CategoryFolder(category));
        var path = $"{folder}/{NoteLayout.FileNameOf(request.RequestedAt, slug)}";
        for (var attempt = 2; clone.FileExists(path); attempt++)
        {
            path = $"{folder}/{NoteLayout.FileNameOf(request.RequestedAt, slug, attempt)}";
        }

        path = KbPathGuard.Normalize(path);
        var files = new List<TreeChange>
        {
            TreeChange.Put(path, NoteLayout.Render(note, title, category, NoteLayout.TagsOf(note.Tags), request.RequestedAt, request.RequestedBy, request.OperationId)),
        };
        files.AddRange(IndexChanges(clone, title, path, request.RequestedAt, category));
        var processMs = step.Elapsed.TotalMilliseconds;

        step.Restart();
        var authorship = CommitAuthorship.Of(operation, _emailDomain);
        var message = CommitTrailers.Message($"Add note: {title}", request.OperationId, contentHash, path, authorship.Principal);
        var sha = clone.Commit(files, authorship.Author, message, authorship.Committer);
        return new Applied(OperationOutcome.Succeeded(sha, path, title), processMs, step.Elapsed.TotalMilliseconds);
    }

    /// <summary>
    /// The note's line appended to its month's index file; when that file is new, also its link in
    /// <c>index.md</c> (unless already there). Only a new month reads <c>index.md</c>, which in a KB
    /// kept by the original system may hold one line per note.
    /// </summary>
    private static IEnumerable<TreeChange> IndexChanges(IKbClone clone, string title, string path, DateTimeOffset createdAt, string category)
    {
        var (monthPath, month) = AppendableFile(clone, FolderIn(clone, NoteLayout.IndexFolder), NoteLayout.MonthIndexName(createdAt));
        yield return TreeChange.Put(monthPath, NoteLayout.AppendLine(month, NoteLayout.MonthHeading(createdAt), NoteLayout.IndexLine(title, path, createdAt, category)));
        if (month is not null)
        {
            yield break;
        }

        var (indexPath, index) = AppendableFile(clone, "", NoteLayout.IndexPath);
        var link = NoteLayout.MonthLink(createdAt, monthPath);
        if (index is null || !index.Split('\n').Any(l => l.TrimEnd('\r') == link))
        {
            yield return TreeChange.Put(indexPath, NoteLayout.AppendLine(index, NoteLayout.IndexHeading, link));
        }
    }

    /// <summary>The layout's folder in this KB: itself, or the first sibling of each part that is not a file there.</summary>
    private static string FolderIn(IKbClone clone, string folder) =>
        NoteLayout.ResolveFolder(folder, p => clone.Entry(p)?.Kind) ?? throw NoPlace(folder, $"{folder}, or a folder on the way to it, is a file");

    /// <summary>
    /// The index file <paramref name="name"/> in <paramref name="folder"/> to append to, with its text (null
    /// for a new file): the file itself, or its first sibling (<c>2026-12-2.md</c>) that is a file or nothing.
    /// A file's text is read once, as it is needed anyway; only a path without text is looked up again.
    /// </summary>
    private static (string Path, string? Text) AppendableFile(IKbClone clone, string folder, string name)
    {
        for (var attempt = 1; attempt <= NoteLayout.MaxSiblings; attempt++)
        {
            var path = (folder.Length == 0 ? "" : folder + "/") + NoteLayout.Sibling(name, attempt, isFile: true);
            if (clone.ReadText(path) is { } text)
            {
                return (path, text);
            }

            if (clone.Entry(path) is null)
            {
                return (path, null);
            }
        }

        var layoutPath = folder.Length == 0 ? name : $"{folder}/{name}";
        throw NoPlace(layoutPath, $"{layoutPath} is a folder (or submodule), not a file");
    }

    private static PathConflict NoPlace(string path, string what) =>
        new(path, path, $"The note has no place: {what}, and so are its next {NoteLayout.MaxSiblings - 1} sibling names (-2 to -{NoteLayout.MaxSiblings}). Nothing was committed.");
}

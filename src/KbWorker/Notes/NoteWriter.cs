using System.Diagnostics;
using KbSync.KbWorker.Git;
using KbSync.KbWorker.Operations;
using KbSync.KbWorker.Paths;
using Microsoft.Extensions.Options;

namespace KbSync.KbWorker.Notes;

/// <summary>
/// Turns a note request into one commit on the clone's tip: the note file (its path through the
/// one path guard, <c>-2</c>, <c>-3</c> on collision) and its line in the month's index file, which
/// is linked from <c>index.md</c> when the note creates it. Text already saved in the KB is not
/// saved again: the outcome is a duplicate and nothing is committed.
/// </summary>
public sealed class NoteWriter(IOptions<KbWorkerOptions> options)
{
    private readonly string _emailDomain = options.Value.AuthorEmailDomain;

    public OperationOutcome Apply(IKbClone clone, PendingOperation operation)
    {
        var step = Stopwatch.StartNew();
        var request = operation.Request;
        var note = request.Note!;
        var title = NoteLayout.TitleOf(note);
        var contentHash = NoteLayout.ContentHash(note.Text);
        if (clone.ContainsContent(contentHash))
        {
            operation.Timings.ProcessMs += step.Elapsed.TotalMilliseconds;
            return OperationOutcome.Duplicate(title);
        }

        var category = NoteLayout.CategoryOf(note.Category);
        var slug = NoteLayout.Slugify(title);
        var path = NoteLayout.PathOf(category, request.RequestedAt, slug);
        for (var attempt = 2; clone.FileExists(path); attempt++)
        {
            path = NoteLayout.PathOf(category, request.RequestedAt, slug, attempt);
        }

        path = KbPathGuard.Normalize(path);
        var files = new List<TreeChange>
        {
            TreeChange.Put(path, NoteLayout.Render(note, title, category, NoteLayout.TagsOf(note.Tags), request.RequestedAt, request.RequestedBy, request.OperationId)),
        };
        files.AddRange(IndexChanges(clone, title, path, request.RequestedAt, category));
        operation.Timings.ProcessMs += step.Elapsed.TotalMilliseconds;

        step.Restart();
        var message = CommitTrailers.Message($"Add note: {title}", request.OperationId, contentHash, path);
        var sha = clone.Commit(files, AuthorOf(request.RequestedBy, request.RequestedAt, _emailDomain), message);
        operation.Timings.CommitMs += step.Elapsed.TotalMilliseconds;
        return OperationOutcome.Succeeded(sha, path, title);
    }

    /// <summary>
    /// The note's line appended to its month's index file; when that file is new, also its link in
    /// <c>index.md</c> (unless already there). Only a new month reads <c>index.md</c>, which in a KB
    /// kept by the original system may hold one line per note.
    /// </summary>
    private static IEnumerable<TreeChange> IndexChanges(IKbClone clone, string title, string path, DateTimeOffset createdAt, string category)
    {
        var monthPath = NoteLayout.MonthIndexPath(createdAt);
        var month = clone.ReadText(monthPath);
        yield return TreeChange.Put(monthPath, NoteLayout.AppendLine(month, NoteLayout.MonthHeading(createdAt), NoteLayout.IndexLine(title, path, createdAt, category)));
        if (month is not null)
        {
            yield break;
        }

        var index = clone.ReadText(NoteLayout.IndexPath);
        var link = NoteLayout.MonthLink(createdAt);
        if (index is null || !index.Split('\n').Any(l => l.TrimEnd('\r') == link))
        {
            yield return TreeChange.Put(NoteLayout.IndexPath, NoteLayout.AppendLine(index, NoteLayout.IndexHeading, link));
        }
    }

    /// <summary>The requester as commit author: their e-mail if they gave one, else <c>&lt;slug&gt;@&lt;domain&gt;</c>.</summary>
    public static CommitAuthor AuthorOf(string requestedBy, DateTimeOffset when, string emailDomain)
    {
        var email = requestedBy.Contains('@') && !requestedBy.Contains(' ') ? requestedBy : $"{NoteLayout.Slugify(requestedBy)}@{emailDomain}";
        return new CommitAuthor(requestedBy, email, when);
    }
}

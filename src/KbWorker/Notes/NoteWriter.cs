using System.Diagnostics;
using KbSync.KbWorker.Git;
using KbSync.KbWorker.Operations;
using KbSync.KbWorker.Paths;
using Microsoft.Extensions.Options;

namespace KbSync.KbWorker.Notes;

/// <summary>
/// Turns a note request into one commit on the clone's tip: the note file (its path through the
/// one path guard, <c>-2</c>, <c>-3</c> on collision) and its <c>index.md</c> line. Text already saved
/// in the KB is not saved again: the outcome is a duplicate and nothing is committed.
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
        TreeChange[] files =
        [
            TreeChange.Put(path, NoteLayout.Render(note, title, category, NoteLayout.TagsOf(note.Tags), request.RequestedAt, request.RequestedBy, request.OperationId)),
            TreeChange.Put(NoteLayout.IndexPath, NoteLayout.AppendToIndex(clone.ReadText(NoteLayout.IndexPath), NoteLayout.IndexLine(title, path, request.RequestedAt, category))),
        ];
        operation.Timings.ProcessMs += step.Elapsed.TotalMilliseconds;

        step.Restart();
        var message = CommitTrailers.Message($"Add note: {title}", request.OperationId, contentHash, path);
        var sha = clone.Commit(files, AuthorOf(request.RequestedBy, request.RequestedAt, _emailDomain), message);
        operation.Timings.CommitMs += step.Elapsed.TotalMilliseconds;
        return OperationOutcome.Succeeded(sha, path, title);
    }

    /// <summary>The requester as commit author: their e-mail if they gave one, else <c>&lt;slug&gt;@&lt;domain&gt;</c>.</summary>
    public static CommitAuthor AuthorOf(string requestedBy, DateTimeOffset when, string emailDomain)
    {
        var email = requestedBy.Contains('@') && !requestedBy.Contains(' ') ? requestedBy : $"{NoteLayout.Slugify(requestedBy)}@{emailDomain}";
        return new CommitAuthor(requestedBy, email, when);
    }
}

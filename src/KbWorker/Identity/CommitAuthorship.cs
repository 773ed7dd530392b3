using KbSync.KbWorker.Git;
using KbSync.KbWorker.Pipeline;

namespace KbSync.KbWorker.Identity;

/// <summary>
/// Who a request's commit says made it, the same for notes and agent tasks: the author is whoever the
/// request says asked (<c>requestedBy</c>, which a bot may relay for its own users, unverified), as a
/// valid git signature (<see cref="RequesterSignature"/>); the committer and the <c>KbSync-Principal</c>
/// trailer are the authenticated principal the request was made as (<see cref="RequestAuthorization"/>).
/// </summary>
/// <param name="Committer">Null before a principal is known: the worker then commits as itself.</param>
/// <param name="Principal">The principal's name for the <see cref="CommitTrailers.PrincipalKey"/> trailer; null without one.</param>
public sealed record CommitAuthorship(CommitAuthor Author, CommitAuthor? Committer, string? Principal)
{
    /// <summary>The authorship of <paramref name="operation"/>'s commit; call it when committing, as the committer's time is now.</summary>
    public static CommitAuthorship Of(PendingOperation operation, string emailDomain) =>
        new(AuthorOf(operation.Request.RequestedBy, operation.Request.RequestedAt, emailDomain), CommitterOf(operation), operation.Principal?.Name);

    /// <summary>
    /// The requester as commit author, a valid git signature whatever they are called: their name and
    /// e-mail if they gave <c>Name &lt;e-mail&gt;</c> or an e-mail, else <c>&lt;slug&gt;@&lt;domain&gt;</c>
    /// (see <see cref="RequesterSignature"/>).
    /// </summary>
    public static CommitAuthor AuthorOf(string requestedBy, DateTimeOffset when, string emailDomain)
    {
        var (name, email) = RequesterSignature.Of(requestedBy, emailDomain);
        return new CommitAuthor(name, email, when);
    }

    /// <summary>The authenticated principal the request was made as, committing now; null before a principal is known.</summary>
    private static CommitAuthor? CommitterOf(PendingOperation operation) =>
        operation.Principal is { } principal ? new CommitAuthor(principal.Name, principal.Email, DateTimeOffset.UtcNow) : null;
}

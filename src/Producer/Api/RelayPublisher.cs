using KbSync.Contracts;
using KbSync.Producer.Client;

namespace KbSync.Producer.Api;

/// <summary>
/// How the API publishes: as a trusted relay (its broker user is a relay principal), on behalf of the
/// principal that signed in, naming that principal in the request so the worker checks that
/// principal's grants and records it as the committer. <c>requestedBy</c>, the author, stays what the
/// caller wrote. The one place endpoints publish through, so the relay rule cannot be forgotten.
/// </summary>
public sealed class RelayPublisher(KbSyncClient client)
{
    public Task<Guid> SubmitNoteAsync(string onBehalfOf, string kbId, string requestedBy, NoteContent note, Guid? operationId, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(onBehalfOf);
        return client.SubmitNoteAsync(kbId, requestedBy, note, operationId, cancellationToken, onBehalfOf);
    }

    public Task<Guid> SubmitAgentTaskAsync(string onBehalfOf, string kbId, string requestedBy, AgentTaskContent task, Guid? operationId, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(onBehalfOf);
        return client.SubmitAgentTaskAsync(kbId, requestedBy, task, operationId, cancellationToken, onBehalfOf);
    }
}

using System.Diagnostics;
using KbSync.Contracts;
using KbSync.KbWorker.Agents.Protection;
using KbSync.KbWorker.Agents.Sandbox;
using KbSync.KbWorker.Git;
using KbSync.KbWorker.Identity;
using KbSync.KbWorker.Notes;
using KbSync.KbWorker.Pipeline;
using Microsoft.Extensions.Options;

namespace KbSync.KbWorker.Agents;

/// <summary>
/// Turns an agent task into (at most) one commit on the clone's tip: the <c>files</c> agent on a
/// <see cref="KbWorkspace"/>, or a configured external agent on a copy of the tip, in a run folder of its
/// own (<c>&lt;data&gt;/agent-runs/&lt;kb&gt;/&lt;operation id&gt;</c>) and the bubblewrap sandbox. A task that
/// changes nothing, or is read-only, makes no commit. Before anything is committed the changes go through
/// <see cref="ProtectedChanges"/>: the KB's protected paths need <c>manage</c>, and nothing git fsck refuses is
/// written. Failures are <see cref="AgentFailure"/>s.
/// </summary>
public sealed class AgentTaskRunner
{
    private readonly KbWorkerOptions _options;
    private readonly ILogger _logger;
    private readonly AgentConfinement _confinement;

    /// <summary>With external agents configured, starts finding out whether bubblewrap works here at once, so the worker logs it at start-up.</summary>
    public AgentTaskRunner(IOptions<KbWorkerOptions> options, ILogger<AgentTaskRunner> logger)
    {
        _options = options.Value;
        _logger = logger;
        _confinement = new AgentConfinement(_options, logger);
        if (_options.Agents.Values.Any(a => !string.IsNullOrWhiteSpace(a.Command)))
        {
            _ = _confinement.DecideAsync();
        }
    }

    /// <param name="protectedPaths">The KB's protected paths (<see cref="ProtectedPaths.Of"/> its list); the request may change them only with <see cref="PendingOperation.MayManage"/>.</param>
    public async Task<Applied> ApplyAsync(IKbClone clone, PendingOperation operation, ProtectedPaths protectedPaths, CancellationToken cancellationToken)
    {
        var step = Stopwatch.StartNew();
        var request = operation.Request;
        var task = request.AgentTask!;
        var (result, changes) = task.AgentName == AgentTaskContent.FilesAgent
            ? RunFiles(clone, task, cancellationToken)
            : await RunExternalAsync(clone, request, cancellationToken);
        var processMs = step.Elapsed.TotalMilliseconds;
        var title = Title(task.Instruction);

        if (task.ReadOnly && changes.Count > 0)
        {
            throw AgentFailure.Refused($"a read-only task changed {changes.Count} file(s) ({string.Join(", ", changes.Take(5).Select(c => c.Path))}).");
        }

        if (changes.Count == 0)
        {
            return new Applied(new OperationOutcome(OperationStatus.Succeeded, null, null, title, null, null) { Agent = result }, processMs, 0);
        }

        ProtectedChanges.Check(changes, protectedPaths.WithIndexWhereNotesWriteIt(p => clone.Entry(p)?.Kind), operation.MayManage, request.KbId);
        step.Restart();
        var authorship = CommitAuthorship.Of(operation, _options.AuthorEmailDomain);
        var message = CommitTrailers.Message($"Agent {task.AgentName}: {title}", request.OperationId, contentHash: null, notePath: null, authorship.Principal);
        var sha = clone.Commit(changes, authorship.Author, message, authorship.Committer);
        return new Applied(OperationOutcome.Succeeded(sha, null, title) with { Agent = result }, processMs, step.Elapsed.TotalMilliseconds);
    }

    /// <param name="cancellationToken">The task's deadline (<c>KbWorker__AgentTimeout</c>): the files agent stops there, and the task is recorded as <c>timed_out</c>.</param>
    private (AgentResult, IReadOnlyList<TreeChange>) RunFiles(IKbClone clone, AgentTaskContent task, CancellationToken cancellationToken)
    {
        var workspace = new KbWorkspace(clone);
        var limits = new FilesAgentLimits(_options.FilesAgentMaxReadBytes, _options.MaxResultBytes);
        var result = FilesAgent.Run(workspace, task.Operations ?? [], task.ReadOnly, limits, cancellationToken);
        return (result, workspace.Changes());
    }

    private async Task<(AgentResult, IReadOnlyList<TreeChange>)> RunExternalAsync(IKbClone clone, KbRequest request, CancellationToken cancellationToken)
    {
        var name = request.AgentTask!.AgentName;
        if (!_options.Agents.TryGetValue(name, out var agent) || string.IsNullOrWhiteSpace(agent.Command))
        {
            var known = _options.Agents.Keys.Prepend(AgentTaskContent.FilesAgent);
            throw new AgentFailure(ReasonCodes.UnknownAgent, $"No agent '{name}' is configured on this worker (known: {string.Join(", ", known)}). Configure it with KbWorker__Agents__{name}__Command.");
        }

        var confinement = await _confinement.DecideAsync().WaitAsync(cancellationToken);
        if (confinement.Mode == ConfinementMode.Refused)
        {
            throw AgentConfinement.RefusedFailure(name, confinement.Problem);
        }

        var run = RunFolder.Create(_options.ResolveDataPath(), request.KbId, request.OperationId);
        try
        {
            return await ExternalAgent.RunAsync(name, agent, confinement, clone, request, run, cancellationToken);
        }
        finally
        {
            if (!run.TryDelete(out var problem))
            {
                _logger.LogWarning("KB {KbId}: the agent's run folder {RunFolder} could not be removed: {Problem}", request.KbId, run.Root, problem);
            }
        }
    }

    private static string Title(string instruction) => NoteLayout.TitleOf(new NoteContent(instruction));
}

using System.Diagnostics;
using KbSync.Contracts;
using KbSync.KbWorker.Agents.Sandbox;
using KbSync.KbWorker.Git;
using KbSync.KbWorker.Paths;

namespace KbSync.KbWorker.Agents;

/// <summary>
/// Runs a configured external agent on a copy of the KB's tip (<see cref="KbCopy"/>) in its run folder, in the
/// bubblewrap sandbox (<see cref="AgentSandbox"/>) unless the worker runs agents unconfined, then turns what it
/// left into changes (<see cref="AgentLeftovers"/>), or refuses the lot with nothing committed. Every way a run
/// can go ends as a result or an <see cref="AgentFailure"/>; only a cancellation of the task escapes otherwise.
/// </summary>
public static class ExternalAgent
{
    public static async Task<(AgentResult Result, IReadOnlyList<TreeChange> Changes)> RunAsync(
        string name, AgentOptions agent, Confinement confinement, IKbClone clone, KbRequest request, RunFolder run, CancellationToken cancellationToken)
    {
        try
        {
            var copy = KbCopy.Write(clone, run.Kb);
            if (agent.TopicsOnly)
            {
                Directory.CreateDirectory(Path.Combine(run.Kb, "topics"));
            }

            var start = confinement.Sandbox is { } sandbox ? sandbox.StartInfo(name, agent, run, request) : Unconfined(name, agent, run, request);
            var output = await AgentProcess.RunAsync(name, start, request.AgentTask!.Instruction, agent, cancellationToken);
            var changes = AgentLeftovers.Collect(agent, copy, run);
            return (Describe(changes, copy, output), changes.Select(c => new TreeChange(c.Path, c.Content)).ToList());
        }
        catch (UnsafePathException error)
        {
            // every path is checked where it is met; this is the net under those checks, never a retry
            throw AgentFailure.Refused(error.Message);
        }
    }

    /// <summary>The agent as a plain child process (<c>KbWorker__AllowUnconfinedAgents=true</c> only), with the same built environment.</summary>
    private static ProcessStartInfo Unconfined(string name, AgentOptions agent, RunFolder run, KbRequest request)
    {
        var info = new ProcessStartInfo(agent.Command, agent.Arguments)
        {
            WorkingDirectory = agent.TopicsOnly ? Path.Combine(run.Kb, "topics") : run.Kb,
        };
        info.Environment.Clear();
        foreach (var (variable, value) in AgentEnvironment.For(name, agent, request, run.Kb, run.Home, run.Tmp))
        {
            info.Environment[variable] = value;
        }

        return info;
    }

    private static AgentResult Describe(IReadOnlyList<AgentChange> changes, KbCopy copy, string output)
    {
        var removed = changes.Where(c => c.Content is null).ToList();
        var moves = new List<FileMove>();
        var created = new List<string>();
        foreach (var added in changes.Where(c => c.Content is not null && !copy.Files.ContainsKey(c.Path)))
        {
            var source = removed.FirstOrDefault(r => r.Sha == added.Sha && moves.All(m => m.From != r.Path));
            if (source is null)
            {
                created.Add(added.Path);
            }
            else
            {
                moves.Add(new FileMove(source.Path, added.Path));
            }
        }

        var edited = changes.Where(c => c.Content is not null && copy.Files.ContainsKey(c.Path)).Select(c => c.Path).ToList();
        var deleted = removed.Select(r => r.Path).Where(p => moves.All(m => m.From != p)).ToList();
        var summary = string.Join("\n\n", new[] { output.Trim(), copy.HiddenNote() }.Where(s => s.Length > 0));
        return new AgentResult(summary, created, edited, deleted, moves, []);
    }
}

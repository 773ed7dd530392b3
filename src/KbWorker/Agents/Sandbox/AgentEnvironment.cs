using System.Text.RegularExpressions;
using KbSync.Contracts;

namespace KbSync.KbWorker.Agents.Sandbox;

/// <summary>
/// The whole environment of an external agent, built from nothing: a sane <c>PATH</c> and <c>LANG</c>, the
/// agent's own allow-list (<see cref="AgentOptions.Environment"/>), <c>HOME</c> and <c>TMPDIR</c> in its run
/// folder, and the documented <c>KBSYNC_*</c> variables. Nothing of the worker's environment (KB tokens,
/// <c>ConnectionStrings__KbSync</c>, broker passwords, <c>SSH_AUTH_SOCK</c>) is ever copied. The values
/// reach the agent through bwrap's own environment, never through <c>--setenv</c>: a command line is
/// readable by every user of the machine (<c>ps</c>), and the instruction and API keys must not be.
/// </summary>
public static partial class AgentEnvironment
{
    public const string DefaultPath = "/usr/local/bin:/usr/bin:/bin";

    /// <summary>Names KbSync sets itself; an allow-list may not set them.</summary>
    private static readonly string[] Reserved = ["HOME", "TMPDIR"];

    /// <param name="kbRoot">The KB copy as the agent sees it (<c>/run/kbsync/kb</c> in the sandbox).</param>
    /// <param name="home">Its home folder as it sees it.</param>
    /// <param name="tmp">Its temporary folder as it sees it.</param>
    public static Dictionary<string, string> For(string name, AgentOptions agent, KbRequest request, string kbRoot, string home, string tmp)
    {
        var environment = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["PATH"] = DefaultPath,
            ["LANG"] = "C.UTF-8",
        };
        foreach (var (variable, value) in agent.Environment)
        {
            if (!ValidName().IsMatch(variable) || value.Contains('\0', StringComparison.Ordinal))
            {
                throw new AgentFailure(ReasonCodes.AgentFailed, $"KbWorker__Agents__{name}__Environment__{variable} is not a usable environment variable (a name of letters, digits and '_', a value without NUL). Nothing was run.");
            }

            if (Reserved.Contains(variable) || variable.StartsWith("KBSYNC_", StringComparison.Ordinal))
            {
                throw new AgentFailure(ReasonCodes.AgentFailed, $"KbWorker__Agents__{name}__Environment__{variable}: KbSync sets {variable} itself. Nothing was run.");
            }

            environment[variable] = value;
        }

        environment["HOME"] = home;
        environment["TMPDIR"] = tmp;
        environment["KBSYNC_INSTRUCTION"] = request.AgentTask!.Instruction;
        environment["KBSYNC_KB_ID"] = request.KbId;
        environment["KBSYNC_KB_ROOT"] = kbRoot;
        environment["KBSYNC_OPERATION_ID"] = request.OperationId.ToString();
        environment["KBSYNC_REQUESTED_BY"] = request.RequestedBy;
        return environment;
    }

    [GeneratedRegex(@"\A[A-Za-z_][A-Za-z0-9_]*\z", RegexOptions.CultureInvariant)]
    private static partial Regex ValidName();
}

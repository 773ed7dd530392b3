using KbSync.Contracts;
using KbSync.KbWorker.Failures;

namespace KbSync.KbWorker.Agents;

/// <summary>An agent task that cannot be committed: one of the <c>agent_*</c> or <c>unknown_agent</c> reason codes and what happened.</summary>
public sealed class AgentFailure(string reasonCode, string message) : OperationFailure(reasonCode, message)
{
    /// <summary>Operation number <paramref name="index"/> (1-based, as a user counts) failed.</summary>
    public static AgentFailure Operation(int index, string op, string why) =>
        new(ReasonCodes.AgentFailed, $"Operation {index} ({op}) failed: {why} Nothing was committed.");

    public static AgentFailure Refused(string why) =>
        new(ReasonCodes.AgentRefused, $"The agent's changes were refused: {why} Nothing was committed.");
}

using System.ComponentModel;
using System.Diagnostics;
using System.Text;
using KbSync.Contracts;
using KbSync.KbWorker.Agents.Sandbox;

namespace KbSync.KbWorker.Agents;

/// <summary>
/// Runs one agent process to its end and turns every way that can go into its output or an
/// <see cref="AgentFailure"/>: it never throws anything else, and never waits without a bound.
/// <list type="bullet">
/// <item>The time limit starts before the process does, so it covers writing the instruction: the instruction
/// is written beside the wait, and an agent that never reads it is killed at the limit like any other.</item>
/// <item>Output is read until the pipes close. In the sandbox they close with the process (every process of its
/// PID namespace is gone when it exits); unconfined, something it started may hold them open, and after
/// <see cref="OutputGrace"/> the task fails rather than wait for it.</item>
/// </list>
/// Only a cancellation of the run's token (the task's deadline, a shutdown) escapes, as
/// <see cref="OperationCanceledException"/>, after the process was killed.
/// </summary>
public static class AgentProcess
{
    /// <summary>How long output may stay open after the process has exited (or was killed).</summary>
    public static readonly TimeSpan OutputGrace = TimeSpan.FromSeconds(5);

    /// <summary>How long a killed process may take to be gone.</summary>
    private static readonly TimeSpan KillGrace = TimeSpan.FromSeconds(10);

    public static async Task<string> RunAsync(string name, ProcessStartInfo info, string instruction, AgentOptions agent, CancellationToken cancellationToken)
    {
        info.RedirectStandardInput = true;
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        info.UseShellExecute = false;

        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(agent.TimeLimit);
        using var process = new Process { StartInfo = info };
        try
        {
            await SpawnThread.StartAsync(process);
        }
        catch (Exception error) when (error is Win32Exception or InvalidOperationException or ArgumentException or IOException)
        {
            throw new AgentFailure(ReasonCodes.AgentFailed, $"Agent '{name}' could not be started ({info.FileName}): {error.Message}");
        }

        var output = new CappedOutput(agent.MaxOutputBytes);
        var reading = Task.WhenAll(output.ReadAsync(process.StandardOutput), output.ReadAsync(process.StandardError));
        _ = WriteAsync(process.StandardInput, instruction, limit.Token);
        try
        {
            await process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            Kill(process);
            await Bounded(process.WaitForExitAsync(CancellationToken.None), KillGrace);
            await Bounded(reading, OutputGrace);
            cancellationToken.ThrowIfCancellationRequested();
            throw new AgentFailure(ReasonCodes.AgentTimedOut, $"Agent '{name}' ran past its time limit of {agent.TimeLimit.TotalSeconds:0.#} s; its processes were killed and nothing was committed. Output: {output.Tail(500)}");
        }

        if (!await Bounded(reading, OutputGrace))
        {
            throw new AgentFailure(ReasonCodes.AgentFailed, $"Agent '{name}' exited, but processes it started still held its output {OutputGrace.TotalSeconds:0} s later; nothing was committed (run agents in the bubblewrap sandbox to have those killed). Output: {output.Tail(500)}");
        }

        if (process.ExitCode != 0)
        {
            throw new AgentFailure(ReasonCodes.AgentFailed, $"Agent '{name}' exited with code {process.ExitCode}; nothing was committed. Output: {output.Tail(2000)}");
        }

        return output.Text;
    }

    /// <summary>Writes the instruction and closes standard input; an agent that exits, closes it or is killed first just ends the write.</summary>
    private static async Task WriteAsync(StreamWriter input, string instruction, CancellationToken limit)
    {
        try
        {
            await input.BaseStream.WriteAsync(Encoding.UTF8.GetBytes(instruction), limit);
            await input.BaseStream.FlushAsync(limit);
            input.Close();
        }
        catch (Exception error) when (error is IOException or OperationCanceledException or ObjectDisposedException)
        {
            // the agent's exit code, or the time limit, tells what happened
        }
    }

    private static void Kill(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (Exception error) when (error is InvalidOperationException or Win32Exception or AggregateException or NotSupportedException)
        {
            // gone already, or a child went first: what is left dies with the sandbox's PID namespace
        }
    }

    /// <summary>Waits at most <paramref name="bound"/>; false when the task was still running then.</summary>
    private static async Task<bool> Bounded(Task task, TimeSpan bound)
    {
        try
        {
            await task.WaitAsync(bound);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    /// <summary>
    /// Standard output and error together, keeping at most a limit; the rest is read and dropped so the agent
    /// never blocks on a full pipe. NUL characters are shown as U+2400 (␀): PostgreSQL refuses them in the
    /// history, and the recording would fail and be retried forever.
    /// </summary>
    private sealed class CappedOutput(int limit)
    {
        private readonly StringBuilder _text = new();
        private long _dropped;

        public string Text
        {
            get
            {
                lock (_text)
                {
                    return _dropped == 0 ? _text.ToString() : $"{_text}\n… ({_dropped} more characters of output dropped)";
                }
            }
        }

        public string Tail(int characters)
        {
            var text = Text.Trim();
            return text.Length <= characters ? text : "…" + text[^characters..];
        }

        /// <summary>Reads to the end of the stream or until it fails; never faults.</summary>
        public async Task ReadAsync(StreamReader reader)
        {
            var buffer = new char[8192];
            try
            {
                int read;
                while ((read = await reader.ReadAsync(buffer)) > 0)
                {
                    buffer.AsSpan(0, read).Replace('\0', '\u2400');
                    lock (_text)
                    {
                        var keep = Math.Clamp(limit - _text.Length, 0, read);
                        _text.Append(buffer, 0, keep);
                        _dropped += read - keep;
                    }
                }
            }
            catch (Exception error) when (error is IOException or ObjectDisposedException)
            {
                // the pipe broke: what was read is what there is
            }
        }
    }
}

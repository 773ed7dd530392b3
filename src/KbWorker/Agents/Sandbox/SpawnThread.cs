using System.Collections.Concurrent;
using System.Diagnostics;

namespace KbSync.KbWorker.Agents.Sandbox;

/// <summary>
/// Starts agent processes from one thread that lives as long as the worker. bwrap's <c>--die-with-parent</c>
/// is <c>PR_SET_PDEATHSIG</c>, and Linux sends that signal when the <em>thread</em> that forked the process
/// exits, not the process: started from a thread-pool thread (which retires after some idle seconds), a
/// sandbox would be killed in the middle of a run for no reason of its own.
/// </summary>
public static class SpawnThread
{
    private static readonly BlockingCollection<(Process Process, TaskCompletionSource Started)> Requests = [];

    static SpawnThread()
    {
        new Thread(Run) { IsBackground = true, Name = "kbsync-agent-spawner" }.Start();
    }

    /// <summary>Starts <paramref name="process"/> on the spawner thread; faults as <see cref="Process.Start()"/> would throw.</summary>
    public static Task StartAsync(Process process)
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Requests.Add((process, started));
        return started.Task;
    }

    private static void Run()
    {
        foreach (var (process, started) in Requests.GetConsumingEnumerable())
        {
            try
            {
                process.Start();
                started.SetResult();
            }
            catch (Exception error)
            {
                started.SetException(error);
            }
        }
    }
}

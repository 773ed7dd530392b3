using System.Diagnostics;

namespace KbSync.KbWorker.Agents.Sandbox;

/// <summary>How this worker runs external agents.</summary>
public enum ConfinementMode
{
    /// <summary>In the bubblewrap sandbox (the default, and the only mode while bwrap works).</summary>
    Sandboxed,

    /// <summary>bwrap cannot run here and <c>KbWorker__AllowUnconfinedAgents=true</c>: agents run as plain child processes.</summary>
    Unconfined,

    /// <summary>bwrap cannot run here and unconfined agents are not allowed: every external agent task fails.</summary>
    Refused,
}

/// <param name="Sandbox">Set when <see cref="Mode"/> is <see cref="ConfinementMode.Sandboxed"/>.</param>
/// <param name="Problem">Why bwrap cannot run, otherwise.</param>
public sealed record Confinement(ConfinementMode Mode, AgentSandbox? Sandbox, string? Problem);

/// <summary>
/// Decides once per worker, at start-up when it has external agents configured (else at first use), whether
/// bubblewrap works here: it is looked for on <c>PATH</c> and must run a test sandbox, the agents' own
/// arguments with <c>true</c> as the program, within 10 s. The decision is logged once and kept.
/// </summary>
public sealed class AgentConfinement
{
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(10);
    private readonly KbWorkerOptions _options;
    private readonly ILogger _logger;
    private readonly Lazy<Task<Confinement>> _decision;

    public AgentConfinement(KbWorkerOptions options, ILogger logger)
    {
        _options = options;
        _logger = logger;
        _decision = new(() => Task.Run(DecideOnceAsync));
    }

    /// <summary>The decision; the first call starts the probe.</summary>
    public Task<Confinement> DecideAsync() => _decision.Value;

    /// <summary>The task failure for a worker that refuses external agents.</summary>
    public static AgentFailure RefusedFailure(string name, string? problem) =>
        new(Contracts.ReasonCodes.AgentFailed,
            $"Agent '{name}' was not run: external agents run in a bubblewrap sandbox, and bubblewrap cannot run on this worker ({problem}). "
            + "Install it (Debian: apt-get install bubblewrap; ./dev does it), or set KbWorker__AllowUnconfinedAgents=true to run agents without a sandbox. Nothing was committed.");

    private async Task<Confinement> DecideOnceAsync()
    {
        var dataPath = _options.ResolveDataPath();
        var bwrap = FindOnPath("bwrap");
        string problem;
        if (bwrap is null)
        {
            problem = "bwrap is not on PATH";
        }
        else
        {
            var sandbox = new AgentSandbox(bwrap, HostSystem.Detect(), dataPath);
            var failed = await TestRunAsync(sandbox, dataPath);
            if (failed is null)
            {
                _logger.LogInformation("External agents run in a bubblewrap sandbox ({Bwrap}): no network unless allowed, only their run folder writable, an environment of their own", bwrap);
                return new Confinement(ConfinementMode.Sandboxed, sandbox, null);
            }

            problem = failed;
        }

        if (_options.AllowUnconfinedAgents)
        {
            _logger.LogWarning("Bubblewrap cannot run on this worker ({Problem}); KbWorker__AllowUnconfinedAgents=true, so external agents run UNCONFINED: they can read and change every KB's clone in the data folder, use the network, and leave processes running", problem);
            return new Confinement(ConfinementMode.Unconfined, null, problem);
        }

        _logger.LogWarning("Bubblewrap cannot run on this worker ({Problem}): external agent tasks will fail with agent_failed. Install bubblewrap, or set KbWorker__AllowUnconfinedAgents=true to run agents without a sandbox", problem);
        return new Confinement(ConfinementMode.Refused, null, problem);
    }

    /// <summary>Runs <c>true</c> in a sandbox built as for an agent; null when that works, else what went wrong.</summary>
    private static async Task<string?> TestRunAsync(AgentSandbox sandbox, string dataPath)
    {
        RunFolder run;
        try
        {
            run = RunFolder.CreateAt(Path.Combine(RunFolder.RunsOf(dataPath), $".probe-{Guid.NewGuid():N}"));
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException or AgentFailure)
        {
            return $"its test run could not be prepared: {error.Message}";
        }

        try
        {
            var info = new ProcessStartInfo(sandbox.Bwrap, sandbox.Arguments("probe", new AgentOptions { Command = "true" }, run.Root, RunFolder.InsideSandbox + "/kb"))
            {
                RedirectStandardError = true,
                RedirectStandardOutput = true,
                UseShellExecute = false,
            };
            info.Environment.Clear();
            info.Environment["PATH"] = AgentEnvironment.DefaultPath;
            using var process = new Process { StartInfo = info };
            await SpawnThread.StartAsync(process);
            _ = process.StandardOutput.ReadToEndAsync();
            var errors = process.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(ProbeTimeout);
            try
            {
                await process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                return $"its test run did not finish in {ProbeTimeout.TotalSeconds:0} s";
            }

            var message = await errors.WaitAsync(ProbeTimeout);
            return process.ExitCode == 0 ? null : $"its test run `bwrap … true` exited with {process.ExitCode}: {message.Trim()}";
        }
        catch (Exception error) when (error is System.ComponentModel.Win32Exception or InvalidOperationException or IOException or TimeoutException or AggregateException)
        {
            return $"its test run failed: {error.Message}";
        }
        finally
        {
            run.TryDelete(out _);
        }
    }

    /// <summary>The first executable file of that name on the worker's <c>PATH</c> (<c>/usr/bin:/bin</c> when unset).</summary>
    private static string? FindOnPath(string program)
    {
        var path = Environment.GetEnvironmentVariable("PATH");
        foreach (var folder in (string.IsNullOrEmpty(path) ? "/usr/bin:/bin" : path).Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(folder, program);
            if (File.Exists(candidate) && !OperatingSystem.IsWindows() && (File.GetUnixFileMode(candidate) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0)
            {
                return candidate;
            }
        }

        return null;
    }
}

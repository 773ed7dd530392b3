using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace KbSync.TestSupport;

/// <summary>
/// A real <c>kbworker</c> process, started as <c>./dev worker</c> starts it, for the integration tests
/// and the benchmarks. Its last lines of output are kept (scanned by tests, quoted when something
/// fails) and, given a log file, every line also goes there. <see cref="Kill"/> is SIGKILL;
/// <see cref="StopAsync"/> and disposing stop it with SIGTERM first.
/// </summary>
public sealed class WorkerProcess : IAsyncDisposable
{
    /// <summary>How long a SIGTERM may take before the worker is killed.</summary>
    public static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(20);

    private const int MaxLines = 20_000;
    private const int SigTerm = 15;
    private const int SigCont = 18;
    private const int SigStop = 19;
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output = new();
    private readonly StreamWriter? _log;
    private readonly Lock _logGate = new();
    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile IReadOnlyList<int> _ownedPartitions = [];
    private int _disposed;

    private WorkerProcess(string id, Process process, string? logPath)
    {
        Id = id;
        _process = process;
        LogPath = logPath;
        _log = logPath is null ? null : new StreamWriter(logPath, append: false) { AutoFlush = true };
    }

    public string Id { get; }
    public int ProcessId => _process.Id;
    public bool HasExited => _process.HasExited;

    /// <summary>The file every line of output goes to, when one was given.</summary>
    public string? LogPath { get; }

    /// <summary>The output kept in memory (the last 20,000 lines).</summary>
    public string Output => string.Join('\n', _output);

    /// <summary>The partitions the worker last said it owns (its "Partitions: …; owns N (a,b,…)" log line); none before the first.</summary>
    public IReadOnlyList<int> OwnedPartitions => _ownedPartitions;

    /// <summary>
    /// Starts <paramref name="workerDll"/> (default: <see cref="BuiltPrograms.Worker"/>) with
    /// <paramref name="environment"/> and waits until it logs "Bus started" (default 60 s).
    /// <paramref name="launcher"/>, when given, is a command the worker is started through: its
    /// program and arguments, followed by <c>dotnet</c> and the dll. It must end by exec-ing them
    /// (a shell that moves itself into a cgroup, say), so the process id stays the worker's.
    /// </summary>
    public static async Task<WorkerProcess> StartAsync(
        string id,
        IReadOnlyDictionary<string, string> environment,
        string? workerDll = null,
        string? logPath = null,
        TimeSpan? startTimeout = null,
        IReadOnlyList<string>? launcher = null,
        CancellationToken cancellationToken = default)
    {
        string[] command = [.. launcher ?? [], "dotnet", BuiltPrograms.Existing(workerDll ?? BuiltPrograms.Worker)];
        var info = new ProcessStartInfo(command[0], command[1..])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var (name, value) in environment)
        {
            info.Environment[name] = value;
        }

        info.Environment["KbWorker__WorkerId"] = id;
        info.Environment["Logging__Console__FormatterName"] = "simple";
        info.Environment["DOTNET_ENVIRONMENT"] = "Production";

        var worker = new WorkerProcess(id, new Process { StartInfo = info, EnableRaisingEvents = true }, logPath);
        worker._process.OutputDataReceived += (_, e) => worker.Collect(e.Data);
        worker._process.ErrorDataReceived += (_, e) => worker.Collect(e.Data);
        worker._process.Exited += (_, _) => worker._started.TrySetException(
            new InvalidOperationException($"Worker {id} exited with {worker._process.ExitCode} before its bus started:\n{worker.Output}"));
        worker._process.Start();
        worker._process.BeginOutputReadLine();
        worker._process.BeginErrorReadLine();
        var timeout = startTimeout ?? TimeSpan.FromSeconds(60);
        try
        {
            await worker._started.Task.WaitAsync(timeout, cancellationToken);
        }
        catch (Exception error) when (error is TimeoutException or OperationCanceledException)
        {
            await worker.DisposeAsync();
            throw error is TimeoutException ? new TimeoutException($"Worker {id} did not say 'Bus started' within {timeout}:\n{worker.Output}") : error;
        }

        return worker;
    }

    /// <summary>
    /// Waits until the process has exited and its output has been read to the end (unlike
    /// <see cref="HasExited"/>, which can turn true while its last lines are still in the pipe).
    /// </summary>
    public async Task WaitForExitAsync(TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"Worker {Id} did not exit within {timeout}:\n{Output}");
        }
    }

    /// <summary>SIGKILL: no cleanup, no goodbye, exactly like a crash.</summary>
    public void Kill()
    {
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
    }

    /// <summary>
    /// SIGSTOP: the process stops where it is, holding its connections, locks and partitions, until
    /// <see cref="Continue"/> (a benchmark fills the queues meanwhile, so publishing is not measured).
    /// </summary>
    public void Suspend() => Signal(SigStop);

    /// <summary>SIGCONT: a <see cref="Suspend"/>ed worker goes on.</summary>
    public void Continue() => Signal(SigCont);

    private void Signal(int signal)
    {
        if (SendSignal(_process.Id, signal) != 0)
        {
            throw new InvalidOperationException($"Signal {signal} to worker {Id} (pid {_process.Id}) failed: errno {Marshal.GetLastPInvokeError()}.");
        }
    }

    /// <summary>SIGTERM, as a deploy or Ctrl+C would: the worker stops gracefully (SIGKILL after <see cref="StopTimeout"/>).</summary>
    /// <returns>How long the stop took: <see cref="StopTimeout"/> or more means the worker had to be killed.</returns>
    public async Task<TimeSpan> StopAsync()
    {
        var stopping = Stopwatch.StartNew();
        if (!_process.HasExited)
        {
            _ = SendSignal(_process.Id, SigCont); // a suspended worker would not act on SIGTERM
            _ = SendSignal(_process.Id, SigTerm);
            using var timeout = new CancellationTokenSource(StopTimeout);
            try
            {
                await _process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync(CancellationToken.None);
            }
        }

        return stopping.Elapsed;
    }

    /// <summary>Stops the worker (<see cref="StopAsync"/>); a second call does nothing, so a test or scenario may stop a worker before its sandbox ends.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await StopAsync();
        _process.Dispose();
        lock (_logGate)
        {
            _log?.Dispose();
        }
    }

    /// <summary>Peak resident set (VmHWM) and current resident set (VmRSS) in MiB, from /proc/&lt;pid&gt;/status; null when gone.</summary>
    public (double PeakMiB, double CurrentMiB)? Memory()
    {
        try
        {
            var lines = File.ReadAllLines($"/proc/{_process.Id}/status");
            double Kib(string key) => double.Parse(lines.First(l => l.StartsWith(key, StringComparison.Ordinal))[key.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
            return (Kib("VmHWM:") / 1024, Kib("VmRSS:") / 1024);
        }
        catch (Exception error) when (error is IOException or InvalidOperationException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>The last lines of the output, for an assertion message.</summary>
    public string OutputTail(int lines = 200) => string.Join('\n', _output.TakeLast(lines));

    private void Collect(string? line)
    {
        if (line is null)
        {
            return;
        }

        _output.Enqueue(line);
        while (_output.Count > MaxLines && _output.TryDequeue(out _))
        {
            // keep the last lines only: a worker in a loop must not take the test run down with it
        }

        if (_log is not null)
        {
            lock (_logGate)
            {
                try
                {
                    _log.WriteLine(line);
                }
                catch (ObjectDisposedException)
                {
                    // the last lines after disposal are dropped
                }
            }
        }

        if (line.Contains("Bus started", StringComparison.Ordinal))
        {
            _started.TrySetResult();
        }

        if (OwnedIn(line) is { } owned)
        {
            _ownedPartitions = owned;
        }
    }

    /// <summary>The list in "Partitions: …; owns N (a,b,…)", or null for any other line.</summary>
    private static List<int>? OwnedIn(string line)
    {
        var owns = line.IndexOf(" owns ", StringComparison.Ordinal);
        if (owns < 0 || !line.Contains("Partitions: ", StringComparison.Ordinal))
        {
            return null;
        }

        var open = line.IndexOf('(', owns);
        var close = open < 0 ? -1 : line.IndexOf(')', open);
        return close < 0
            ? null
            : line[(open + 1)..close].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(p => int.Parse(p, CultureInfo.InvariantCulture)).ToList();
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);
}

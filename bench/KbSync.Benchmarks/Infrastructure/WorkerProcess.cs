using System.Diagnostics;
using System.Runtime.InteropServices;

namespace KbSync.Benchmarks.Infrastructure;

/// <summary>
/// A real <c>kbworker</c> process, started as <c>./dev worker</c> starts it; its output goes to a log
/// file. Disposing stops it with SIGTERM (SIGKILL after 20 s).
/// </summary>
public sealed partial class WorkerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StreamWriter _log;
    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _gate = new();

    private WorkerProcess(string id, Process process, StreamWriter log)
    {
        Id = id;
        _process = process;
        _log = log;
    }

    private int _disposed;

    public string Id { get; }
    public int ProcessId => _process.Id;

    /// <summary>Peak resident set (VmHWM) and current resident set (VmRSS) in MiB, from /proc/&lt;pid&gt;/status; null when gone.</summary>
    public (double PeakMiB, double CurrentMiB)? Memory()
    {
        try
        {
            var lines = File.ReadAllLines($"/proc/{_process.Id}/status");
            double Kib(string key) => double.Parse(lines.First(l => l.StartsWith(key, StringComparison.Ordinal))[key.Length..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
            return (Kib("VmHWM:") / 1024, Kib("VmRSS:") / 1024);
        }
        catch (Exception error) when (error is IOException or InvalidOperationException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    public static async Task<WorkerProcess> StartAsync(string id, string workerDll, IReadOnlyDictionary<string, string> environment, string logPath, CancellationToken cancellationToken)
    {
        var info = new ProcessStartInfo("dotnet", [workerDll])
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
        info.Environment["DOTNET_ENVIRONMENT"] = "Production";
        info.Environment["DOTNET_CONTENTROOT"] = Path.GetDirectoryName(workerDll)!;

        var log = new StreamWriter(logPath, append: false) { AutoFlush = true };
        var worker = new WorkerProcess(id, new Process { StartInfo = info, EnableRaisingEvents = true }, log);
        worker._process.OutputDataReceived += (_, e) => worker.Collect(e.Data);
        worker._process.ErrorDataReceived += (_, e) => worker.Collect(e.Data);
        worker._process.Exited += (_, _) => worker._started.TrySetException(
            new InvalidOperationException($"Worker {id} exited with {worker._process.ExitCode} before its bus started; see {logPath}."));
        worker._process.Start();
        worker._process.BeginOutputReadLine();
        worker._process.BeginErrorReadLine();
        try
        {
            await worker._started.Task.WaitAsync(TimeSpan.FromSeconds(90), cancellationToken);
        }
        catch (Exception error) when (error is TimeoutException or OperationCanceledException)
        {
            await worker.DisposeAsync();
            throw error is TimeoutException ? new TimeoutException($"Worker {id} did not say 'Bus started' within 90 s; see {logPath}.") : error;
        }

        return worker;
    }

    /// <summary>Stops the worker (SIGTERM, then a kill after 20 s); a second call does nothing, so a scenario may stop a worker before its sandbox ends.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        if (!_process.HasExited)
        {
            _ = SendSignal(_process.Id, 15);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
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

        _process.Dispose();
        lock (_gate)
        {
            _log.Dispose();
        }
    }

    private void Collect(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_gate)
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

        if (line.Contains("Bus started", StringComparison.Ordinal))
        {
            _started.TrySetResult();
        }

        if (OwnsLine().Match(line) is { Success: true } owns)
        {
            OwnedPartitions = int.Parse(owns.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        }
    }

    /// <summary>How many partitions the worker last said it owns ("Partitions: …; owns N (…)").</summary>
    public int OwnedPartitions { get; private set; }

    [System.Text.RegularExpressions.GeneratedRegex(@"^\s*Partitions: .*; owns (\d+) \(")]
    private static partial System.Text.RegularExpressions.Regex OwnsLine();

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);
}

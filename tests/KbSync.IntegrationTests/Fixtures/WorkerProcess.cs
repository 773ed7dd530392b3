using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;

namespace KbSync.IntegrationTests.Fixtures;

/// <summary>
/// A real <c>kbworker</c> process, as <c>./dev worker</c> runs it. Its output is kept (and scanned by
/// tests), <see cref="Kill"/> is SIGKILL, disposing stops it with SIGTERM first.
/// </summary>
public sealed class WorkerProcess : IAsyncDisposable
{
    private const int MaxLines = 20_000;
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output = new();
    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private WorkerProcess(string id, Process process)
    {
        Id = id;
        _process = process;
    }

    public string Id { get; }
    public int ProcessId => _process.Id;
    public bool HasExited => _process.HasExited;
    public string Output => string.Join('\n', _output);

    public static async Task<WorkerProcess> StartAsync(string id, IReadOnlyDictionary<string, string> environment, TimeSpan? startTimeout = null)
    {
        var info = new ProcessStartInfo("dotnet", [WorkerAssembly()])
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

        var worker = new WorkerProcess(id, new Process { StartInfo = info, EnableRaisingEvents = true });
        worker._process.OutputDataReceived += (_, e) => worker.Collect(e.Data);
        worker._process.ErrorDataReceived += (_, e) => worker.Collect(e.Data);
        worker._process.Exited += (_, _) => worker._started.TrySetException(new InvalidOperationException($"Worker {id} exited with {worker._process.ExitCode} before it started:\n{worker.Output}"));
        worker._process.Start();
        worker._process.BeginOutputReadLine();
        worker._process.BeginErrorReadLine();
        try
        {
            await worker._started.Task.WaitAsync(startTimeout ?? TimeSpan.FromSeconds(60));
        }
        catch (TimeoutException)
        {
            await worker.DisposeAsync();
            throw new TimeoutException($"Worker {id} did not start:\n{worker.Output}");
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

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _process.Dispose();
    }

    /// <summary>SIGTERM, as a deploy or Ctrl+C would: the worker stops gracefully (SIGKILL after <see cref="StopTimeout"/>).</summary>
    /// <returns>How long the stop took: <see cref="StopTimeout"/> or more means the worker had to be killed.</returns>
    public async Task<TimeSpan> StopAsync()
    {
        var stopping = Stopwatch.StartNew();
        if (!_process.HasExited)
        {
            _ = SendSignal(_process.Id, 15);
            using var timeout = new CancellationTokenSource(StopTimeout);
            try
            {
                await _process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
            }
        }

        return stopping.Elapsed;
    }

    public static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(20);

    /// <summary>The partitions the worker last said it owns (its "Partitions: …; owns N (a,b,…)" log line); none before the first.</summary>
    public IReadOnlyList<int> OwnedPartitions
    {
        get
        {
            var line = _output.LastOrDefault(l => l.Contains("Partitions: ", StringComparison.Ordinal) && l.Contains(" owns ", StringComparison.Ordinal));
            var owned = line is null ? "" : line[(line.IndexOf('(', line.IndexOf(" owns ", StringComparison.Ordinal)) + 1)..line.IndexOf(')', line.IndexOf(" owns ", StringComparison.Ordinal))];
            return owned.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToList();
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

        if (line.Contains("Bus started", StringComparison.Ordinal))
        {
            _started.TrySetResult();
        }
    }

    /// <summary>artifacts/bin/KbSync.KbWorker/&lt;configuration&gt;/kbworker.dll, built with the tests.</summary>
    private static string WorkerAssembly()
    {
        var testOutput = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var path = Path.Combine(testOutput.Parent!.Parent!.FullName, "KbSync.KbWorker", testOutput.Name, "kbworker.dll");
        return File.Exists(path) ? path : throw new FileNotFoundException($"The worker is not built at {path}: build the solution first.");
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);
}

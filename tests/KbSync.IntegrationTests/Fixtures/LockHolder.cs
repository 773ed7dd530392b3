using System.Diagnostics;

namespace KbSync.IntegrationTests.Fixtures;

/// <summary>
/// Another process holding a KB's lock file: util-linux <c>flock</c> takes the same <c>flock(2)</c>
/// lock a worker takes (.NET opens with <see cref="FileShare.None"/> that way on Linux), then sleeps.
/// </summary>
public sealed class LockHolder : IDisposable
{
    private readonly Process _process;

    private LockHolder(Process process) => _process = process;

    public static async Task<LockHolder> HoldAsync(string lockFile)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(lockFile)!);
        var process = Process.Start(new ProcessStartInfo("flock", ["--exclusive", lockFile, "sh", "-c", "echo held; sleep 600"]) { RedirectStandardOutput = true, UseShellExecute = false })!;
        var first = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10));
        return first == "held" ? new LockHolder(process) : throw new InvalidOperationException($"flock did not take {lockFile}");
    }

    /// <summary>SIGKILL the holder (and its sleep): the kernel drops the lock with the process.</summary>
    public void Kill()
    {
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            Kill();
        }

        _process.Dispose();
    }
}

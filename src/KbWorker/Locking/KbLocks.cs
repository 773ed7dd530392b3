using System.Collections.Concurrent;
using System.Diagnostics;
using KbSync.Contracts;
using Microsoft.Extensions.Options;

namespace KbSync.KbWorker.Locking;

/// <summary>
/// The per-KB lock: an in-process semaphore, then an OS file lock (<c>flock</c>, taken by opening
/// with <see cref="FileShare.None"/>) on <c>&lt;data&gt;/locks/&lt;kb&gt;.lock</c>, beside the clone and
/// never inside a working tree. The kernel drops the file lock when its process dies, so a killed
/// worker never blocks anyone. Released by disposing the handle, on success, exception and
/// cancellation alike.
/// </summary>
public sealed class KbLocks(IOptions<KbWorkerOptions> options)
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(20);
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _gates = new();
    private readonly string _lockFolder = Path.Combine(options.Value.ResolveDataPath(), "locks");

    /// <param name="reader">The lock of the KB's reader clone (read-only tasks), which never waits for writes.</param>
    public async Task<KbLockHandle> AcquireAsync(string kbId, TimeSpan timeout, CancellationToken cancellationToken, bool reader = false)
    {
        var name = KbIds.Validate(kbId) + (reader ? ".read" : "");
        var waited = Stopwatch.StartNew();
        var gate = _gates.GetOrAdd(name, _ => new SemaphoreSlim(1, 1));
        if (!await gate.WaitAsync(timeout, cancellationToken))
        {
            throw new KbLockTimeoutException(kbId, timeout);
        }

        try
        {
            var file = await LockFileAsync(Path.Combine(_lockFolder, name + ".lock"), kbId, timeout - waited.Elapsed, cancellationToken);
            return new KbLockHandle(gate, file, waited.Elapsed);
        }
        catch
        {
            gate.Release();
            throw;
        }
    }

    private async Task<FileStream> LockFileAsync(string path, string kbId, TimeSpan timeout, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(_lockFolder);
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, bufferSize: 1);
            }
            catch (IOException) when (deadline.Elapsed < timeout)
            {
                await Task.Delay(PollInterval, cancellationToken);
            }
            catch (IOException)
            {
                throw new KbLockTimeoutException(kbId, timeout);
            }
        }
    }
}

/// <summary>Holds a KB lock until disposed.</summary>
public sealed class KbLockHandle(SemaphoreSlim gate, FileStream file, TimeSpan waited) : IDisposable
{
    private int _released;

    /// <summary>How long acquiring took.</summary>
    public TimeSpan Waited { get; } = waited;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0)
        {
            file.Dispose();
            gate.Release();
        }
    }
}

public sealed class KbLockTimeoutException(string kbId, TimeSpan timeout)
    : Exception($"KB '{kbId}' stayed locked by another operation for {timeout.TotalSeconds:0.#} s (KbWorker__LockTimeout).");

using System.Diagnostics;
using System.Text;

namespace KbSync.KbWorker.Git;

/// <summary>
/// A KB's SSH deploy key, written for one fetch or push to a file OpenSSH can read with <c>-i</c>, and
/// deleted right after. The key comes from the KB's token variable on the worker (never the database):
/// the private key itself (OpenSSH or PEM format, unencrypted), or the same text base64-encoded for
/// environments that cannot hold line breaks. The file is in a folder of its own (0700, named after
/// this process), created 0600 with nothing written before the mode is set, on <c>/dev/shm</c> where
/// there is one (memory, never disk), else in the temp folder; never in a clone, whose files an agent
/// task or a backup may read. A folder left by a killed worker is removed when the next one starts.
/// </summary>
internal sealed class SshKeyFile : IDisposable
{
    private const string Prefix = "kbsync-ssh-";

    private SshKeyFile(string folder, string path)
    {
        Folder = folder;
        Path = path;
    }

    public string Folder { get; }

    public string Path { get; }

    /// <summary>Writes the key; throws <see cref="FormatException"/> (without the key in its message) when the value holds no private key.</summary>
    public static SshKeyFile Write(string value)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("SSH remotes are supported on Linux workers.");
        }

        var key = KeyText(value);
        var folder = System.IO.Path.Combine(SecretsRoot(), $"{Prefix}{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var path = System.IO.Path.Combine(folder, "key");
        try
        {
            using var file = new FileStream(path, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            });
            file.Write(Encoding.ASCII.GetBytes(key));
        }
        catch
        {
            Directory.Delete(folder, recursive: true);
            throw;
        }

        return new SshKeyFile(folder, path);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Folder, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }

    /// <summary>Removes key folders whose worker process is gone (killed between writing a key and deleting it).</summary>
    public static void RemoveStale(ILogger logger)
    {
        if (OperatingSystem.IsWindows() || !Directory.Exists(SecretsRoot()))
        {
            return;
        }

        foreach (var folder in Directory.EnumerateDirectories(SecretsRoot(), Prefix + "*"))
        {
            var name = System.IO.Path.GetFileName(folder)[Prefix.Length..];
            if (!int.TryParse(name.Split('-')[0], out var pid) || IsAlive(pid))
            {
                continue;
            }

            try
            {
                Directory.Delete(folder, recursive: true);
                logger.LogWarning("Removed the SSH key folder {Folder} left by worker process {Pid}, which is gone", folder, pid);
            }
            catch (Exception error) when (error is IOException or UnauthorizedAccessException)
            {
                logger.LogWarning("Could not remove the SSH key folder {Folder} left by process {Pid}: {Message}", folder, pid, error.Message);
            }
        }
    }

    private static string KeyText(string value)
    {
        var text = value.Trim();
        if (!text.Contains("-----BEGIN ", StringComparison.Ordinal))
        {
            try
            {
                text = Encoding.UTF8.GetString(Convert.FromBase64String(text)).Trim();
            }
            catch (FormatException)
            {
            }
        }

        if (!text.Contains("-----BEGIN ", StringComparison.Ordinal) || !text.Contains("PRIVATE KEY-----", StringComparison.Ordinal) || !text.All(char.IsAscii))
        {
            throw new FormatException("it holds no private key (-----BEGIN OPENSSH PRIVATE KEY----- ..., or that text base64-encoded)");
        }

        return text.ReplaceLineEndings("\n") + "\n";
    }

    private static string SecretsRoot() => Directory.Exists("/dev/shm") ? "/dev/shm" : System.IO.Path.GetTempPath();

    private static bool IsAlive(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }
}

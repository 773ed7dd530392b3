using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace KbSync.KbWorker.Git;

/// <summary>What <see cref="RefLockOwner.Check"/> can prove about the process that took a ref lock.</summary>
public enum RefLockWriterState
{
    /// <summary>The process is still running (or may be: it exists but cannot be inspected).</summary>
    Alive,

    /// <summary>Provably gone: no process with its pid, another process under its pid (a different start time), or a zombie.</summary>
    Dead,

    /// <summary>It ran on another machine, boot or pid namespace (another container): nothing can be proven from here.</summary>
    Elsewhere,
}

/// <summary>
/// Who took a ref lock in a remote on this machine's file system: a KbSync worker process, named so
/// that another worker can later prove it is gone. git's lock file holds only the new value, so
/// <see cref="RemoteRefLock"/> keeps this beside it, in a file git ignores.
/// <para>
/// A pid alone proves nothing: pids are reused, the same pid means another process in another
/// container (pid namespace), and after a reboot every pid is new. So the record names the host
/// (<see cref="Machine"/>, the kernel's <see cref="BootId"/>, the <see cref="PidNamespace"/>) and the
/// process (<see cref="Pid"/> and its <see cref="StartTicks"/>, the start time the kernel keeps in
/// <c>/proc/&lt;pid&gt;/stat</c>, which a reused pid does not share). Only a writer on this very host
/// can be declared dead; one elsewhere is never guessed at.
/// </para>
/// </summary>
public sealed record RefLockOwner(string WorkerId, int Pid, long StartTicks, string Machine, string BootId, string PidNamespace)
{
    private const string Header = "kbsync-ref-lock 1";
    private const int NoSuchProcess = 3; // ESRCH

    private static readonly Lazy<(string Machine, string BootId, string PidNamespace)> ThisHost = new(() =>
        (Environment.MachineName, ReadOrEmpty("/proc/sys/kernel/random/boot_id"), PidNamespaceOf("self")));

    /// <summary>
    /// This process, as the worker <paramref name="workerId"/>. Without <c>/proc</c> (not Linux) it
    /// records no boot id, so its locks can never be declared dead: they are respected, as before records.
    /// </summary>
    public static RefLockOwner Current(string workerId) =>
        OfProcess(Environment.ProcessId, workerId) ?? new RefLockOwner(Clean(workerId), Environment.ProcessId, -1, Environment.MachineName, "", "");

    /// <summary>The process <paramref name="pid"/> on this host as it is now; null if there is none.</summary>
    public static RefLockOwner? OfProcess(int pid, string workerId)
    {
        var (machine, bootId, pidNamespace) = ThisHost.Value;
        return ReadStat(pid) is { } stat ? new RefLockOwner(Clean(workerId), pid, stat.StartTicks, machine, bootId, pidNamespace) : null;
    }

    /// <summary>
    /// Whether the recorded process still runs. Dead only when this host is the recorded one and either
    /// no process has the pid (<c>kill(pid, 0)</c> says so, which works where <c>/proc</c> hides other
    /// users' processes), or the process under that pid started at another time (the pid was reused), or
    /// it is a zombie (killed, not yet reaped by its parent).
    /// </summary>
    public RefLockWriterState Check()
    {
        var (machine, bootId, pidNamespace) = ThisHost.Value;
        if (bootId.Length == 0 || pidNamespace.Length == 0 || Machine != machine || BootId != bootId || PidNamespace != pidNamespace)
        {
            return RefLockWriterState.Elsewhere;
        }

        if (ReadStat(Pid) is { } stat)
        {
            return stat.StartTicks != StartTicks || stat.State is 'Z' or 'X' ? RefLockWriterState.Dead : RefLockWriterState.Alive;
        }

        return Kill(Pid, 0) != 0 && Marshal.GetLastPInvokeError() == NoSuchProcess ? RefLockWriterState.Dead : RefLockWriterState.Alive;
    }

    /// <summary>The record's text: one <c>key=value</c> per line, after a header line.</summary>
    public string Format() => new StringBuilder()
        .Append(Header).Append('\n')
        .Append("worker=").Append(WorkerId).Append('\n')
        .Append("pid=").Append(Pid.ToString(CultureInfo.InvariantCulture)).Append('\n')
        .Append("start=").Append(StartTicks.ToString(CultureInfo.InvariantCulture)).Append('\n')
        .Append("machine=").Append(Machine).Append('\n')
        .Append("boot=").Append(BootId).Append('\n')
        .Append("pidns=").Append(PidNamespace).Append('\n')
        .ToString();

    /// <summary>The owner in a record's text (other lines, such as ones a newer version adds, are ignored); null unless it is whole.</summary>
    public static RefLockOwner? Parse(string text)
    {
        var lines = text.Split('\n');
        if (lines[0] != Header)
        {
            return null;
        }

        var fields = lines.Skip(1).Select(l => l.Split('=', 2)).Where(p => p.Length == 2).GroupBy(p => p[0]).ToDictionary(g => g.Key, g => g.First()[1]);
        string? Field(string key) => fields.GetValueOrDefault(key);
        return Field("worker") is { } worker && int.TryParse(Field("pid"), CultureInfo.InvariantCulture, out var pid) && pid > 0 &&
               long.TryParse(Field("start"), CultureInfo.InvariantCulture, out var start) &&
               Field("machine") is { } machine && Field("boot") is { } boot && Field("pidns") is { } pidns
            ? new RefLockOwner(worker, pid, start, machine, boot, pidns)
            : null;
    }

    public override string ToString() => $"KbSync worker {WorkerId} (pid {Pid} on {Machine})";

    /// <summary>
    /// The start time (field 22, clock ticks after boot) and state (field 3) in <c>/proc/&lt;pid&gt;/stat</c>.
    /// The command name (field 2) is in parentheses and may hold spaces and parentheses itself, so the
    /// fields are counted from the last <c>)</c>.
    /// </summary>
    private static (long StartTicks, char State)? ReadStat(int pid)
    {
        var stat = ReadOrEmpty($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return fields.Length > 19 && long.TryParse(fields[19], CultureInfo.InvariantCulture, out var start) ? (start, fields[0][0]) : null;
    }

    /// <summary>The pid namespace (<c>pid:[4026531836]</c>): two containers on one host share the boot id but not this.</summary>
    private static string PidNamespaceOf(string process)
    {
        try
        {
            return new FileInfo($"/proc/{process}/ns/pid").LinkTarget ?? "";
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            return "";
        }
    }

    private static string ReadOrEmpty(string path)
    {
        try
        {
            return File.ReadAllText(path).Trim();
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            return "";
        }
    }

    /// <summary>A worker id is configuration: keep it to one line of the record.</summary>
    private static string Clean(string value) => new(value.Select(c => char.IsControl(c) ? '_' : c).ToArray());

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}

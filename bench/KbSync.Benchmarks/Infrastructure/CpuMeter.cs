using System.Globalization;

namespace KbSync.Benchmarks.Infrastructure;

/// <summary>
/// Where the machine's CPU time went over a measured window, from /proc (Linux, in clock ticks of
/// 1/100 s): the whole machine's busy share, the worker processes' own time, and the time of this
/// process's children that ended in the window (the <c>git http-backend</c> processes that serve
/// the remotes over HTTP).
/// </summary>
public sealed class CpuMeter
{
    private const double TicksPerSecond = 100; // USER_HZ on Linux
    private readonly (long Busy, long Total) _machine = Machine();
    private readonly long _children = ChildrenTicks();
    private readonly Dictionary<int, long> _processes;
    private readonly DateTime _started = DateTime.UtcNow;

    private CpuMeter(IEnumerable<int> processIds) => _processes = processIds.ToDictionary(p => p, ProcessTicks);

    public static CpuMeter Start(IEnumerable<int> processIds) => new(processIds);

    public CpuUse Stop()
    {
        var machine = Machine();
        var wall = (DateTime.UtcNow - _started).TotalSeconds;
        var busy = machine.Total > _machine.Total ? 100.0 * (machine.Busy - _machine.Busy) / (machine.Total - _machine.Total) : double.NaN;
        var processes = _processes.Sum(p => ProcessTicks(p.Key) - p.Value) / TicksPerSecond;
        var children = (ChildrenTicks() - _children) / TicksPerSecond;
        return new CpuUse(busy, processes, children, wall);
    }

    /// <summary>Busy (everything but idle and I/O wait) and total ticks of all CPUs, from the first line of /proc/stat.</summary>
    private static (long Busy, long Total) Machine()
    {
        var fields = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(long.Parse).ToArray();
        var total = fields.Take(8).Sum();
        return (total - fields[3] - fields[4], total);
    }

    /// <summary>utime + stime of a process (fields 14 and 15 of /proc/PID/stat); 0 once it is gone.</summary>
    private static long ProcessTicks(int processId) => StatFields($"/proc/{processId}/stat") is { } f ? f[11] + f[12] : 0;

    /// <summary>cutime + cstime of this process: its children that have ended and been waited for.</summary>
    private static long ChildrenTicks() => StatFields("/proc/self/stat") is { } f ? f[13] + f[14] : 0;

    /// <summary>The fields after the command name (which may hold spaces): index i is field i + 3 of proc(5), the state (field 3) read as 0.</summary>
    private static long[]? StatFields(string path)
    {
        try
        {
            var line = File.ReadAllText(path);
            return line[(line.LastIndexOf(')') + 2)..].Split(' ').Select(f => long.TryParse(f, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : 0).ToArray();
        }
        catch (IOException)
        {
            return null;
        }
    }
}

/// <param name="MachineBusyPercent">Share of all CPUs' time that was busy, any process.</param>
/// <param name="ProcessSeconds">CPU seconds of the measured processes (the workers).</param>
/// <param name="ChildSeconds">CPU seconds of this process's children that ended in the window (the HTTP remotes' git processes).</param>
public sealed record CpuUse(double MachineBusyPercent, double ProcessSeconds, double ChildSeconds, double WallSeconds);

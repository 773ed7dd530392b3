using System.Globalization;

namespace KbSync.Benchmarks.Infrastructure;

/// <summary>
/// A CPU cap per worker process, so that workers on one machine stand for workers on machines of
/// their own: each worker runs in a cgroup of its own whose CFS quota allows it
/// <see cref="CpusPerWorker"/> CPUs (its children inherit the group), and its CPU time is read from
/// the group. cgroup v1 (the <c>cpu</c> controller's <c>cpu.cfs_quota_us</c>/<c>cpu.cfs_period_us</c>,
/// time from the <c>cpuacct</c> controller's <c>cpuacct.usage</c>) or v2 (<c>cpu.max</c>, time from
/// <c>cpu.stat</c>'s <c>usage_usec</c>), whichever the machine lets this process write. Where it can
/// write neither, <see cref="Capped"/> is false, <see cref="Description"/> says why, and workers run
/// uncapped. The groups live under <c>kbsync-bench-&lt;pid&gt;</c> and are removed when disposed; groups a
/// dead benchmark process left behind are removed at the next start.
/// </summary>
public sealed class CpuCaps : IDisposable
{
    private const string Prefix = "kbsync-bench-";
    private const string V1Cpu = "/sys/fs/cgroup/cpu";
    private const string V1CpuAcct = "/sys/fs/cgroup/cpuacct";
    private static readonly string[] V2Roots = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"];

    /// <summary>The CFS period the quota is a share of (100 ms, the kernel's default).</summary>
    private const long PeriodMicroseconds = 100_000;

    /// <summary>
    /// The scheduler weight of each group, ten times the default (v1 <c>cpu.shares</c> 1024, v2 <c>cpu.weight</c> 100).
    /// A cgroup competes with every other runnable task as one: at the default weight, a worker's group on a
    /// machine with dozens of runnable tasks gets a small fraction of a CPU, far below its quota. A machine
    /// of its own would give it all of its CPU, so the groups get more weight and the quota is what limits.
    /// </summary>
    private const int WeightFactor = 10;

    private readonly Kind _kind;
    private readonly List<string> _parents; // v1: the cpu and cpuacct parents (or one, where they are mounted together); v2: one
    private readonly List<CpuCap> _caps = [];
    private CpuCap? _host;

    private CpuCaps(Kind kind, List<string> parents, double cpusPerWorker, string description)
    {
        _kind = kind;
        _parents = parents;
        CpusPerWorker = cpusPerWorker;
        Description = description;
    }

    private enum Kind { None, V1, V2 }

    public double CpusPerWorker { get; }

    /// <summary>False when no cgroup could be written: the workers run uncapped.</summary>
    public bool Capped => _kind != Kind.None;

    /// <summary>One line: which mechanism caps the workers, or why nothing does.</summary>
    public string Description { get; }

    /// <summary>Finds a writable cgroup hierarchy and makes this process's parent group in it.</summary>
    public static CpuCaps Create(double cpusPerWorker)
    {
        var name = Prefix + Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        var quota = Quota(cpusPerWorker);
        var reasons = new List<string>();
        if (Directory.Exists(V1Cpu) && File.Exists(Path.Combine(V1Cpu, "cpu.cfs_quota_us")))
        {
            var acct = File.Exists(Path.Combine(V1Cpu, "cpuacct.usage")) ? V1Cpu : V1CpuAcct; // "cpu,cpuacct" mounted together, or apart
            if (File.Exists(Path.Combine(acct, "cpuacct.usage")))
            {
                try
                {
                    RemoveStale(V1Cpu);
                    var parents = new[] { V1Cpu, acct }.Distinct().Select(root => Path.Combine(root, name)).ToList();
                    parents.ForEach(p => Directory.CreateDirectory(p));
                    return new CpuCaps(Kind.V1, parents, cpusPerWorker,
                        $"cgroup v1: cpu.cfs_quota_us {quota} per cpu.cfs_period_us {PeriodMicroseconds} ({cpusPerWorker:0.###} CPU) per worker, cpu.shares {1024 * WeightFactor} per group, CPU time from cpuacct.usage; {string.Join(", ", parents)}");
                }
                catch (Exception error) when (error is IOException or UnauthorizedAccessException)
                {
                    reasons.Add($"cgroup v1 {V1Cpu} not writable ({error.Message})");
                }
            }
            else
            {
                reasons.Add($"cgroup v1 {V1Cpu} has no cpuacct controller beside it");
            }
        }

        foreach (var root in V2Roots)
        {
            var controllers = Path.Combine(root, "cgroup.controllers");
            if (!File.Exists(controllers))
            {
                continue;
            }

            if (!File.ReadAllText(controllers).Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Contains("cpu"))
            {
                reasons.Add($"cgroup v2 {root} has no cpu controller (cgroup.controllers: {File.ReadAllText(controllers).Trim()})");
                continue;
            }

            try
            {
                RemoveStale(root);
                var parent = Path.Combine(root, name);
                File.WriteAllText(Path.Combine(root, "cgroup.subtree_control"), "+cpu");
                Directory.CreateDirectory(parent);
                File.WriteAllText(Path.Combine(parent, "cgroup.subtree_control"), "+cpu"); // the workers' groups get cpu.max
                return new CpuCaps(Kind.V2, [parent], cpusPerWorker,
                    $"cgroup v2: cpu.max \"{quota} {PeriodMicroseconds}\" ({cpusPerWorker:0.###} CPU) per worker, cpu.weight {100 * WeightFactor} per group, CPU time from cpu.stat usage_usec; {parent}");
            }
            catch (Exception error) when (error is IOException or UnauthorizedAccessException)
            {
                reasons.Add($"cgroup v2 {root} not writable ({error.Message})");
            }
        }

        if (reasons.Count == 0)
        {
            reasons.Add("no cgroup v1 cpu or v2 hierarchy under /sys/fs/cgroup");
        }

        return new CpuCaps(Kind.None, [], cpusPerWorker,
            $"NOT CAPPED: no writable cgroup ({string.Join("; ", reasons)}); the workers run uncapped and share the machine, so this does not stand for separate machines");
    }

    /// <summary>A group for one worker, with its quota set. Start the worker through <see cref="CpuCap.Launcher"/>.</summary>
    public CpuCap Add(string workerId)
    {
        var cap = new CpuCap(this, workerId, [.. _parents.Select(p => Path.Combine(p, workerId))]);
        if (_kind == Kind.None)
        {
            return cap;
        }

        foreach (var folder in cap.Folders)
        {
            Directory.CreateDirectory(folder);
        }

        var quota = Quota(CpusPerWorker);
        if (_kind == Kind.V1)
        {
            File.WriteAllText(Path.Combine(cap.Folders[0], "cpu.cfs_period_us"), PeriodMicroseconds.ToString(CultureInfo.InvariantCulture));
            File.WriteAllText(Path.Combine(cap.Folders[0], "cpu.cfs_quota_us"), quota.ToString(CultureInfo.InvariantCulture));
        }
        else
        {
            File.WriteAllText(Path.Combine(cap.Folders[0], "cpu.max"), $"{quota} {PeriodMicroseconds}");
        }

        _caps.Add(cap);
        SetWeights();
        return cap;
    }

    /// <summary>
    /// Moves this process (the publisher; its <c>git http-backend</c> children, the remotes, start in the
    /// group too) into an uncapped group of the same weight as a worker's, standing for machines of their own
    /// as well; its CPU time is then <see cref="CpuCap.CpuSeconds"/> of the group returned. Moved back when disposed.
    /// </summary>
    public CpuCap HostThisProcess()
    {
        var host = new CpuCap(this, "bench-host", [.. _parents.Select(p => Path.Combine(p, "bench-host"))]);
        if (_kind == Kind.None)
        {
            return host;
        }

        foreach (var folder in host.Folders)
        {
            Directory.CreateDirectory(folder);
            File.WriteAllText(Path.Combine(folder, "cgroup.procs"), Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
        }

        _host = host;
        _caps.Add(host);
        SetWeights();
        return host;
    }

    /// <summary>Each group <see cref="WeightFactor"/> times the default weight; the parent as much as all of them together.</summary>
    private void SetWeights()
    {
        var (file, unit) = _kind == Kind.V1 ? ("cpu.shares", 1024) : ("cpu.weight", 100);
        var each = unit * WeightFactor;
        File.WriteAllText(Path.Combine(_parents[0], file), Math.Min(_kind == Kind.V1 ? 262_144 : 10_000, each * _caps.Count).ToString(CultureInfo.InvariantCulture));
        foreach (var cap in _caps)
        {
            File.WriteAllText(Path.Combine(cap.Folders[0], file), Math.Min(_kind == Kind.V1 ? 262_144 : 10_000, each).ToString(CultureInfo.InvariantCulture));
        }
    }

    /// <summary>Removes every worker's group and the parent; processes still in one are moved to the root group first.</summary>
    public void Dispose()
    {
        if (_host is not null)
        {
            foreach (var folder in _host.Folders)
            {
                TryWrite(Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(folder))!, "cgroup.procs"), Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
            }
        }

        foreach (var cap in _caps)
        {
            cap.Remove();
        }

        foreach (var parent in _parents)
        {
            RemoveGroup(parent, Path.GetDirectoryName(parent)!);
        }
    }

    private static long Quota(double cpus) => Math.Max(1000, (long)Math.Round(cpus * PeriodMicroseconds));

    /// <summary>Groups named after a benchmark process that no longer runs (a crash, a SIGKILL): removed.</summary>
    private static void RemoveStale(string root)
    {
        foreach (var dir in Directory.EnumerateDirectories(root, Prefix + "*"))
        {
            if (int.TryParse(Path.GetFileName(dir)[Prefix.Length..], NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && !Directory.Exists($"/proc/{pid}"))
            {
                foreach (var sibling in new[] { root, V1CpuAcct }.Distinct().Select(r => Path.Combine(r, Path.GetFileName(dir))).Where(Directory.Exists))
                {
                    var siblingRoot = Path.GetDirectoryName(sibling)!;
                    foreach (var child in Directory.EnumerateDirectories(sibling))
                    {
                        RemoveGroup(child, siblingRoot);
                    }

                    RemoveGroup(sibling, siblingRoot);
                }
            }
        }
    }

    /// <summary>
    /// rmdir of a cgroup (its files are the kernel's: only the directory goes), after moving what still
    /// runs in it (a worker's child that outlived it) to <paramref name="root"/>, the hierarchy's root group.
    /// </summary>
    private static void RemoveGroup(string folder, string root)
    {
        if (!Directory.Exists(folder))
        {
            return;
        }

        try
        {
            var procs = Path.Combine(folder, "cgroup.procs");
            foreach (var pid in File.Exists(procs) ? File.ReadAllLines(procs).Where(l => l.Length > 0) : [])
            {
                TryWrite(Path.Combine(root, "cgroup.procs"), pid);
            }

            Directory.Delete(folder); // rmdir, not recursive
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"[bench] warning: could not remove cgroup {folder}: {error.Message}");
        }
    }

    private static void TryWrite(string path, string text)
    {
        try
        {
            File.WriteAllText(path, text);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"[bench] warning: could not write {path}: {error.Message}");
        }
    }

    /// <summary>One worker's group: how to start the worker in it, and the CPU time it has used.</summary>
    public sealed class CpuCap
    {
        private readonly CpuCaps _owner;

        internal CpuCap(CpuCaps owner, string workerId, List<string> folders)
        {
            _owner = owner;
            WorkerId = workerId;
            Folders = folders;
        }

        public string WorkerId { get; }

        /// <summary>The group's folders (v1: in the cpu hierarchy, then the cpuacct one when it is apart).</summary>
        public IReadOnlyList<string> Folders { get; }

        /// <summary>
        /// For <c>WorkerProcess.StartAsync</c>: a shell that writes its own process id to each group's
        /// <c>cgroup.procs</c> and then execs the worker, so the worker is capped from its first instruction
        /// on and keeps the shell's process id; exit 97 where the kernel refuses it. None when uncapped.
        /// </summary>
        public IReadOnlyList<string>? Launcher => _owner._kind == Kind.None
            ? null
            : ["sh", "-c", """while [ "$1" != -- ]; do echo $$ > "$1" || exit 97; shift; done; shift; exec "$@" """, "kbsync-cgroup",
                .. Folders.Select(f => Path.Combine(f, "cgroup.procs")), "--"];

        /// <summary>CPU seconds used by the group's processes since it was made; NaN when uncapped.</summary>
        public double CpuSeconds()
        {
            return _owner._kind switch
            {
                Kind.V1 => long.Parse(File.ReadAllText(Path.Combine(Folders[^1], "cpuacct.usage")).Trim(), CultureInfo.InvariantCulture) / 1e9,
                Kind.V2 => Stat("usage_usec") / 1e6,
                _ => double.NaN,
            };
        }

        /// <summary>Seconds the group was held back by its quota (v1 <c>throttled_time</c> ns, v2 <c>throttled_usec</c>); NaN when uncapped.</summary>
        public double ThrottledSeconds()
        {
            return _owner._kind switch
            {
                Kind.V1 => Stat("throttled_time") / 1e9,
                Kind.V2 => Stat("throttled_usec") / 1e6,
                _ => double.NaN,
            };
        }

        private double Stat(string key)
        {
            foreach (var line in File.ReadLines(Path.Combine(Folders[0], "cpu.stat")))
            {
                var parts = line.Split(' ');
                if (parts.Length == 2 && parts[0] == key)
                {
                    return long.Parse(parts[1], CultureInfo.InvariantCulture);
                }
            }

            return double.NaN;
        }

        internal void Remove()
        {
            foreach (var folder in Folders)
            {
                RemoveGroup(folder, Path.GetDirectoryName(Path.GetDirectoryName(folder))!);
            }
        }
    }
}

using System.Diagnostics;
using KbSync.Contracts;

namespace KbSync.KbWorker.Agents.Sandbox;

/// <summary>
/// The bubblewrap (<c>bwrap</c>) command line an external agent runs under. Inside, the agent sees:
/// <list type="bullet">
/// <item>its run folder, the only writable place, at <see cref="RunFolder.InsideSandbox"/> (<c>kb/</c>, <c>home/</c>, <c>tmp/</c>; <c>/tmp</c> is its <c>tmp/</c>);</item>
/// <item><c>/usr</c> (with <c>/bin</c>, <c>/lib</c>… as on the host) and <see cref="EtcFiles"/>, read-only: enough for <c>sh</c>, <c>git</c>, <c>python3</c>;</item>
/// <item>its <see cref="AgentOptions.ReadOnlyPaths"/> and its program, read-only;</item>
/// <item>a fresh <c>/proc</c> of its own PID namespace and a minimal <c>/dev</c>; no network unless <see cref="AgentOptions.AllowNetwork"/>.</item>
/// </list>
/// Nothing of the worker's data folder is shown but this run's folder (if a read-only path contains the data
/// folder, an empty tmpfs covers it), and no capability is kept. The agent is the sandbox's PID 1
/// (<c>--as-pid-1</c>): when it exits the kernel kills every process left in its namespace and bwrap reports
/// the exit only once they are all gone, so nothing it started can still write while the worker reads what it
/// left. <c>--die-with-parent</c> ends the sandbox with the worker. The environment is not on this command
/// line: see <see cref="AgentEnvironment"/>.
/// </summary>
public sealed class AgentSandbox(string bwrap, HostSystem host, string dataPath)
{
    public const string Hostname = "kbsync-agent";

    /// <summary>
    /// What of <c>/etc</c> programs need (dynamic loader cache, alternatives, user and host names, name
    /// resolution, CA certificates, time zone), each bound only if present. Never all of <c>/etc</c>: the agent
    /// runs as root without capabilities, and root may read root's own files (<c>/etc/shadow</c>, <c>/etc/ssl/private</c>).
    /// </summary>
    public static readonly IReadOnlyList<string> EtcFiles =
    [
        "/etc/alternatives", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
        "/etc/passwd", "/etc/group", "/etc/nsswitch.conf",
        "/etc/hosts", "/etc/host.conf", "/etc/resolv.conf", "/etc/gai.conf", "/etc/services", "/etc/protocols",
        "/etc/ssl/certs", "/etc/ssl/openssl.cnf", "/etc/ca-certificates", "/etc/ca-certificates.conf",
        "/etc/localtime", "/etc/timezone", "/etc/os-release", "/etc/debian_version", "/etc/mime.types",
    ];

    /// <summary>Where the sandbox mounts things of its own; a read-only path may not be there.</summary>
    private static readonly IReadOnlyList<string> Reserved = [RunFolder.InsideSandbox, "/proc", "/dev"];

    public string Bwrap => bwrap;

    /// <summary>bwrap's arguments for a run of the agent in <paramref name="runFolder"/>, its program and arguments last.</summary>
    /// <param name="workingFolder">The agent's current folder, inside the sandbox.</param>
    public IReadOnlyList<string> Arguments(string name, AgentOptions agent, string runFolder, string workingFolder)
    {
        var data = HostPath.Real(dataPath) ?? Path.GetFullPath(dataPath);
        var readOnly = ReadOnlyPaths(name, agent, data);
        var arguments = new List<string> { "--unshare-pid", "--as-pid-1", "--die-with-parent", "--new-session", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try" };
        if (!agent.AllowNetwork)
        {
            arguments.Add("--unshare-net");
        }

        arguments.AddRange(["--hostname", Hostname, "--cap-drop", "ALL", "--ro-bind", "/usr", "/usr"]);
        var shown = new List<string> { "/usr" };
        foreach (var folder in HostSystem.TopFolders)
        {
            if (host.Links.TryGetValue(folder, out var target))
            {
                arguments.AddRange(["--symlink", target, folder]);
            }
            else if (host.Folders.Contains(folder))
            {
                arguments.AddRange(["--ro-bind", folder, folder]);
                shown.Add(folder);
            }
        }

        foreach (var file in EtcFiles)
        {
            arguments.AddRange(["--ro-bind-try", file, file]);
        }

        arguments.AddRange(["--proc", "/proc", "--dev", "/dev"]);
        arguments.AddRange(["--bind", runFolder, RunFolder.InsideSandbox, "--bind", Path.Combine(runFolder, "tmp"), "/tmp"]);
        foreach (var path in readOnly)
        {
            arguments.AddRange(["--ro-bind", path, path]);
        }

        if (shown.Concat(EtcFiles).Concat(readOnly).Any(source => HostPath.IsWithin(data, source)))
        {
            arguments.AddRange(["--tmpfs", data, "--remount-ro", data]);
        }

        arguments.AddRange(["--remount-ro", "/", "--chdir", workingFolder, "--", agent.Command]);
        arguments.AddRange(agent.Arguments);
        return arguments;
    }

    /// <summary>bwrap started with exactly the agent's environment (and nothing of the worker's).</summary>
    public ProcessStartInfo StartInfo(string name, AgentOptions agent, RunFolder run, KbRequest request)
    {
        var kb = RunFolder.InsideSandbox + "/kb";
        var workingFolder = agent.TopicsOnly ? kb + "/topics" : kb;
        var info = new ProcessStartInfo(bwrap, Arguments(name, agent, run.Root, workingFolder));
        info.Environment.Clear();
        foreach (var (variable, value) in AgentEnvironment.For(name, agent, request, kb, RunFolder.InsideSandbox + "/home", RunFolder.InsideSandbox + "/tmp"))
        {
            info.Environment[variable] = value;
        }

        return info;
    }

    /// <summary>The agent's read-only paths, real and checked, and its program's file when it lies outside them and outside the system.</summary>
    private List<string> ReadOnlyPaths(string name, AgentOptions agent, string data)
    {
        var paths = new List<string>();
        foreach (var configured in agent.ReadOnlyPaths)
        {
            var real = Path.IsPathRooted(configured) ? HostPath.Real(configured) : null;
            if (real is null || real == "/")
            {
                throw Misconfigured(name, $"its read-only path '{configured}' is not an existing absolute path other than /");
            }

            if (HostPath.IsWithin(real, data) || Reserved.Any(r => HostPath.IsWithin(real, r)))
            {
                throw Misconfigured(name, $"its read-only path '{configured}' lies inside the worker's data folder or where the sandbox mounts its own ({string.Join(", ", Reserved)})");
            }

            paths.Add(real);
        }

        if (Path.IsPathRooted(agent.Command) && HostPath.Real(agent.Command) is { } program && !IsSystem(program) && !paths.Any(p => HostPath.IsWithin(program, p)))
        {
            if (HostPath.IsWithin(program, data))
            {
                throw Misconfigured(name, $"its program {agent.Command} lies inside the worker's data folder");
            }

            paths.Add(program);
        }

        return paths;
    }

    private bool IsSystem(string program) =>
        HostPath.IsWithin(program, "/usr") || host.Folders.Any(f => HostPath.IsWithin(program, f));

    private static AgentFailure Misconfigured(string name, string why) =>
        new(ReasonCodes.AgentFailed, $"Agent '{name}' was not run: {why} (KbWorker__Agents__{name}__…). Nothing was committed.");
}

namespace KbSync.KbWorker.Agents;

/// <summary>
/// An external agent the worker may run (section <c>KbWorker:Agents:&lt;name&gt;</c>, e.g.
/// <c>KbWorker__Agents__claude__Command=/usr/local/bin/claude</c>,
/// <c>KbWorker__Agents__claude__Arguments__0=--print</c>). The instruction reaches it on standard
/// input and in <c>KBSYNC_INSTRUCTION</c>, never on a command line. It runs in a bubblewrap sandbox
/// (<see cref="Sandbox.AgentSandbox"/>): its run folder, the system read-only, no network, and only
/// the environment given here.
/// </summary>
public sealed class AgentOptions
{
    /// <summary>The program to start (no shell): an absolute path, or a name found on the sandbox's <c>PATH</c>.</summary>
    public string Command { get; set; } = "";

    /// <summary>Its arguments, passed as they are.</summary>
    public List<string> Arguments { get; set; } = [];

    /// <summary>Run in the KB's <c>topics/</c> folder instead of its root, and refuse changes outside it (the original's KB_TOPICS_ONLY).</summary>
    public bool TopicsOnly { get; set; }

    /// <summary>After this the agent's whole process tree is killed and the task fails with <c>agent_timed_out</c>. The clock starts before the instruction is written.</summary>
    public TimeSpan TimeLimit { get; set; } = TimeSpan.FromSeconds(300);

    /// <summary>How much of its output (standard output and error) is kept as the task's summary.</summary>
    public int MaxOutputBytes { get; set; } = 64 * 1024;

    /// <summary>The largest file it may leave in the KB.</summary>
    public long MaxFileBytes { get; set; } = 10 * 1024 * 1024;

    /// <summary>The most bytes of new or changed files it may leave, all together.</summary>
    public long MaxChangedBytes { get; set; } = 50 * 1024 * 1024;

    /// <summary>The most files it may create, change or delete.</summary>
    public int MaxChangedFiles { get; set; } = 1000;

    /// <summary>
    /// Give the agent the machine's network (an LLM CLI calling its API). Off by default: the sandbox has
    /// no network at all, not even loopback. On, it shares the worker's network, local services included.
    /// </summary>
    public bool AllowNetwork { get; set; }

    /// <summary>
    /// The agent's environment besides KbSync's own variables (<c>KbWorker__Agents__&lt;name&gt;__Environment__&lt;NAME&gt;=&lt;value&gt;</c>,
    /// an API key, say). Nothing of the worker's environment reaches an agent unless it is listed here.
    /// </summary>
    public Dictionary<string, string> Environment { get; set; } = new(StringComparer.Ordinal);

    /// <summary>
    /// Host folders or files the agent may read, shown read-only at the same path (its program's own folder,
    /// say). <c>/usr</c> and a few files of <c>/etc</c> are always there; none of these may lie inside the
    /// worker's data folder.
    /// </summary>
    public List<string> ReadOnlyPaths { get; set; } = [];
}

namespace KbSync.KbWorker;

/// <summary>Settings of one worker process (section <c>KbWorker</c>, e.g. <c>KbWorker__DataPath</c>).</summary>
public sealed class KbWorkerOptions
{
    public const string Section = "KbWorker";

    /// <summary>Names this worker in history and logs.</summary>
    public string WorkerId { get; set; } = Environment.MachineName;

    /// <summary>Where clones and lock files live; default <c>.state/kbworker/&lt;WorkerId&gt;</c> under the current folder. Workers may share one.</summary>
    public string? DataPath { get; set; }

    /// <summary>How long an operation waits for its KB lock before failing with <c>lock_timeout</c>.</summary>
    public TimeSpan LockTimeout { get; set; } = TimeSpan.FromSeconds(300);

    /// <summary>Deadline of a note operation (a group of one KB's notes), lock wait included; past it they are recorded as <c>timed_out</c>.</summary>
    public TimeSpan NoteTimeout { get; set; } = TimeSpan.FromSeconds(300);

    /// <summary>Deadline of an agent task, lock wait, fetch, the agent and push included; keep it above the agents' own time limits.</summary>
    public TimeSpan AgentTimeout { get; set; } = TimeSpan.FromSeconds(360);

    /// <summary>External agents by name (<c>KbWorker__Agents__&lt;name&gt;__Command</c> ...). The <c>files</c> agent is built in.</summary>
    public Dictionary<string, Agents.AgentOptions> Agents { get; set; } = new(StringComparer.Ordinal);

    /// <summary>
    /// Run external agents without a sandbox where bubblewrap cannot run. Off by default, and then such a
    /// worker fails every external agent task with <c>agent_failed</c> instead: an unconfined agent sees
    /// the worker's files (every KB's clone) and network, and what it leaves running outlives it.
    /// </summary>
    public bool AllowUnconfinedAgents { get; set; }

    /// <summary>
    /// Deadline of each git network call (fetch, push), well below the operation's: a remote that
    /// accepts the connection and never answers fails the call with <c>network_timeout</c> after this.
    /// </summary>
    public TimeSpan NetworkTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How often a push rejected because someone else wrote first is tried on the new head (replays pause 25 ms more each time).</summary>
    public int MaxPushAttempts { get; set; } = 5;

    /// <summary>
    /// How long a partition waits for a delivery that has not reached its consumer while later ones
    /// have, before it goes on without it. Deliveries that fail before the consumer are reported at
    /// once, so a gap this long is a bug; passing over it breaks the KB's order, so the wait is long:
    /// a slow start on a loaded machine must not look like one.
    /// </summary>
    public TimeSpan DeliveryGapTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How often a worker checks that it owns its share of the partitions (partitions / live workers, see <c>PartitionShare</c>).
    /// Workers announce joining and handing partitions over, so this matters only when a worker dies:
    /// its partitions wait this long, at most, for a new owner.
    /// </summary>
    public TimeSpan PartitionBalanceInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// How many times in a row a run may fail for a reason KbSync cannot place while PostgreSQL and
    /// RabbitMQ answer, before its request is failed as <c>internal_error</c> and its message moved to the
    /// partition's error queue. Failures while a service does not answer are not counted: the partition waits.
    /// </summary>
    public int MaxFailedAttempts { get; set; } = 4;

    /// <summary>
    /// How long a graceful stop (SIGTERM) lets running KB groups finish before it cancels them; their requests
    /// go back to the queue, in order, for the next owner. Keep it below the deployment's kill timeout.
    /// </summary>
    public TimeSpan StopTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Read-only agent tasks this worker runs at once, across its partitions (they run beside the
    /// partition's order, so this is their only bound); more wait for a slot.
    /// </summary>
    public int MaxReadOnlyTasks { get; set; } = 4;

    /// <summary>
    /// The most requests of one KB run together as one group (one lock, one fetch, one push): the largest group commit.
    /// A group takes only what is waiting, so a quiet KB's groups stay small whatever this is; it matters
    /// in a burst. 100, from measurement (docs/benchmarks.md, runs <c>20261206-114256</c> to <c>-115417</c>): a
    /// group's push is its biggest fixed cost over a network (250 to 400 ms at +100 ms per request), so a
    /// 500-note burst ran at 61 to 69 notes/s in groups of 20, 101 to 123 in groups of 50, 140 to 182 in
    /// groups of 100, with the lowest end-to-end latency too; locally all three were bound by the producer.
    /// What a larger group could cost, one bad request replayed one request at a time, the
    /// <see cref="Failures.Backstop"/> avoids by halving the group (one bad note among 100 cost the
    /// others 19 s at +100 ms, about what it cost in groups of 20). Each group is also one pack held in
    /// memory: up to this many notes of at most <see cref="MaxNoteBytes"/>.
    /// </summary>
    public int MaxBatchSize { get; set; } = 100;

    /// <summary>
    /// How many of a partition queue's requests this worker holds at once (the consumer's prefetch and
    /// concurrent message limit): how far it looks ahead of the oldest request not yet done. A KB's
    /// request runs as soon as it is among them and its KB's previous group has ended, so a quiet KB's
    /// request waits only for the requests of a busy KB of its partition ahead of it beyond this many.
    /// RabbitMQ counts prefetch in messages, not bytes, so it also bounds memory by count: at most this
    /// many requests per partition owned, each up to 16 MB as JSON (<c>RequestLimits</c>), typically a few KB.
    /// </summary>
    public int PartitionLookahead { get; set; } = 1000;

    /// <summary>The most KB groups of one partition that run at once (each KB has one at a time).</summary>
    public int MaxGroupsPerPartition { get; set; } = 20;

    /// <summary>Packs a clone may hold (each group of commits saves one) before the next operation merges all but the largest into one.</summary>
    public int MaxClonePacks { get; set; } = 32;

    /// <summary>
    /// Packs a remote on this machine's file system may hold (each push adds one) before the next operation
    /// on the KB merges all but the largest into one, as <c>git gc --auto</c> does past git's <c>gc.autoPackLimit</c> (50).
    /// </summary>
    public int MaxRemotePacks { get; set; } = 50;

    /// <summary>Where the worker serves its metrics for Prometheus, e.g. <c>http://localhost:9464/</c>; empty: not served.</summary>
    public string? MetricsUrl { get; set; }

    /// <summary>Commit author e-mail for requesters given as a plain name: <c>name@&lt;domain&gt;</c>.</summary>
    public string AuthorEmailDomain { get; set; } = "users.kbsync.invalid";

    /// <summary>The largest note text accepted, in UTF-8 bytes.</summary>
    public int MaxNoteBytes { get; set; } = Contracts.RequestLimits.MaxNoteBytes;

    /// <summary>
    /// Most bytes one files-agent task reads from the KB (files read, searched, edited or moved, all its
    /// operations together); past it the task fails with <c>agent_failed</c>. Its deadline
    /// (<see cref="AgentTimeout"/>) bounds its time; this bounds its work on a fast disk.
    /// </summary>
    public long FilesAgentMaxReadBytes { get; set; } = KbSync.KbWorker.Agents.FilesAgentLimits.DefaultMaxReadBytes;

    /// <summary>
    /// Most bytes (UTF-8) of output one agent task returns, kept in its history row and sent in its result
    /// event: the files agent cuts its reading operations' outputs there, and whatever a task's summary
    /// and outputs add up to (an external agent's included) is cut there again before it is stored.
    /// </summary>
    public long MaxResultBytes { get; set; } = KbSync.KbWorker.Agents.FilesAgentLimits.DefaultMaxResultBytes;

    public string ResolveDataPath() =>
        Path.GetFullPath(string.IsNullOrWhiteSpace(DataPath) ? Path.Combine(".state", "kbworker", WorkerId) : DataPath);
}

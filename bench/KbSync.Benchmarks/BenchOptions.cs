using System.Globalization;

namespace KbSync.Benchmarks;

/// <summary>The command line: <c>kbsync-bench [scenario...] [options]</c>.</summary>
public sealed class BenchOptions
{
    public List<string> Scenarios { get; } = [];

    /// <summary>Measured notes per KB (or per series, for scenarios that have series).</summary>
    public int Notes { get; set; } = 30;

    /// <summary>Notes sent to each KB first and not counted (the first one pays the clone).</summary>
    public int Warmup { get; set; } = 3;

    /// <summary>KB sizes (files) for <c>kb-size</c>.</summary>
    public List<int> Sizes { get; } = [];

    /// <summary>Repetitions of each analytics query (after one uncounted warm-up).</summary>
    public int Repetitions { get; set; } = 5;

    /// <summary>History rows the stats-api scenario generates (issue #16: 1,000,000 and 10,000,000).</summary>
    public int Rows { get; set; } = 1_000_000;

    /// <summary>Notes in the burst at one KB (KbSync and the baseline alike).</summary>
    public int BurstNotes { get; set; } = 500;

    /// <summary>The baselines' burst (1 writer and <see cref="BaselineWriters"/>): the first this many of the burst's notes (serial under its lock, so its notes/s is steady).</summary>
    public int BaselineBurstNotes { get; set; } = 150;

    /// <summary>The baseline's notes per KB in many-kbs (the first this many of each KB's).</summary>
    public int BaselineManyNotes { get; set; } = 10;

    /// <summary>Concurrent git-CLI writers in the baseline (many-kbs; in burst, the contended baseline beside the single writer).</summary>
    public int BaselineWriters { get; set; } = 4;

    /// <summary>KBs and notes per KB for many-kbs.</summary>
    public int ManyKbs { get; set; } = 32;
    public int ManyNotes { get; set; } = 30;

    /// <summary>Worker counts for scale-out, in order (the first should be 1: the others are compared with it).</summary>
    public List<int> ScaleWorkers { get; } = [];

    /// <summary>CPUs each scale-out worker's cgroup may use (its CFS quota over its period).</summary>
    public double CpuPerWorker { get; set; } = 0.1;

    /// <summary>KBs and notes per KB for scale-out.</summary>
    public int ScaleKbs { get; set; } = 64;
    public int ScaleNotes { get; set; } = 30;

    /// <summary>Uncounted warm-up notes each scale-out worker runs (rounds of a note per KB, at least one).</summary>
    public int ScaleWarmup { get; set; } = 200;

    /// <summary>Uncounted rehearsals of the measured step (the same notes per KB, published while the workers are stopped) after the warm-up rounds.</summary>
    public int ScaleRehearsals { get; set; } = 1;

    /// <summary>Measured steps per scale-out worker count (the report compares their medians).</summary>
    public int ScaleSteps { get; set; } = 5;

    /// <summary>How scale-out reaches its remotes: <c>http</c> (git http-backend in the benchmark process, outside the caps) or <c>local</c> (paths).</summary>
    public string ScaleRemote { get; set; } = "http";

    /// <summary>KBs for the memory scenario (each cloned by one worker).</summary>
    public int MemoryKbs { get; set; } = 100;

    /// <summary>The hot KB's backlog in head-of-line.</summary>
    public int HolBacklog { get; set; } = 3000;

    /// <summary><c>KbWorker__PartitionLookahead</c> values head-of-line runs with, each with a fresh worker; none: the worker's defaults, once.</summary>
    public List<int> HolLookaheads { get; } = [];

    /// <summary><c>KbWorker__MaxBatchSize</c> values burst runs KbSync with, each with a fresh worker and KB; none: the worker's default, once.</summary>
    public List<int> BurstBatchSizes { get; } = [];

    /// <summary>
    /// How the burst's producer publishes, once per value, each with a fresh worker and KB: at most this many
    /// publishes in flight (sent, their broker confirm not yet back) on the client's one channel. 1 is the
    /// only producer before run 20261206-131103: each note's confirm awaited before the next is sent.
    /// </summary>
    public List<int> BurstInFlight { get; } = [];

    /// <summary>After each KbSync burst, this many more notes to the same KB, the middle one failing as a bug would (<c>KBSYNC_FAULT_FOR</c>); 0: none.</summary>
    public int BurstPoisonNotes { get; set; }

    /// <summary>Added delay per HTTP request of the slow remote, in ms.</summary>
    public int LatencyMs { get; set; } = 100;

    /// <summary>Smaller sizes everywhere, to try the benchmarks out in a few minutes.</summary>
    public bool Quick { get; set; }

    /// <summary>Where each run gets its own folder; default <c>results/</c> at the repository root.</summary>
    public string? ResultsRoot { get; set; }

    /// <summary>Keep the run's remotes and worker clones (results/&lt;run&gt;/tmp) for inspection.</summary>
    public bool Keep { get; set; }

    public bool List { get; set; }
    public bool Help { get; set; }

    public const string Usage = """
        usage: kbsync-bench [scenario...] [options]        (./dev bench [scenario...] [options])

        Runs the named scenarios (all but the diagnostics when none is named) end to end against the real
        product: a fresh RabbitMQ virtual host and PostgreSQL database per scenario, real kbworker
        processes, notes published with the .NET client library, costs read from the history table.
        Prints a table per scenario; raw data goes to results/<run>/.

        options:
          --notes N        measured notes per KB (default 30)
          --warmup N       uncounted notes per KB before measuring (default 3; the first one clones)
          --sizes A,B,...  KB sizes in files for kb-size (default 100,1000,10000)
          --reps N         repetitions of each analytics-1m and stats-api call after one warm-up (default 5)
          --rows N         history rows stats-api generates (default 1000000; quick 100000)
          --burst N        notes in the burst at one KB (default 500)
          --writers N      concurrent git-CLI writers of the baseline (default 4; burst also runs 1 writer)
          --baseline-burst N       the baseline writes the first N of the burst's notes (default 150)
          --baseline-many-notes N  the baseline writes the first N notes of each KB in many-kbs (default 10)
          --many-kbs N     KBs in many-kbs (default 32); --many-notes N notes per KB (default 30)
          --scale-workers A,B,...  worker counts of scale-out (default 1,2,4,8)
          --cpu-per-worker X       CPUs each scale-out worker's cgroup may use (default 0.1)
          --scale-kbs N    KBs in scale-out (default 64); --scale-notes N notes per KB (default 30)
          --scale-warmup N uncounted notes each scale-out worker runs first (default 200; rounds of a note per KB)
          --scale-rehearsals N uncounted runs of the measured step itself after those rounds (default 1)
          --scale-steps N  measured steps per worker count, each after the workers settle; medians compared (default 5)
          --scale-remote http|local  scale-out's remotes: git http-backend outside the caps (default) or paths
          --memory-kbs N   KBs cloned by the worker in memory (default 100)
          --hol-backlog N  the hot KB's backlog in head-of-line (default 3000)
          --hol-lookahead A,B,...  run head-of-line once per KbWorker__PartitionLookahead value, each with a fresh
                           worker (default: once, with the worker's defaults)
          --max-batch-size A,B,...  run burst's KbSync once per KbWorker__MaxBatchSize value, each with a fresh worker
                           and KB, against the same baselines (default: once, with the worker's default)
          --burst-in-flight A,B,...  run burst's KbSync once per value of publishes in flight at once on the client's
                           one channel, each with a fresh worker and KB (default 1 and --burst: one confirmed at a time, as
                           before, then the whole burst at once; a value above --burst means the whole burst)
          --burst-poison N after each KbSync burst, N more notes to the same KB, the middle one failing as a bug would
                           (the worker armed with KBSYNC_FAULT_FOR): what one bad note costs the others (default 0: none)
          --latency-ms N   delay added per HTTP request of the slow remote (default 100)
          --quick          small sizes to try it out (burst 100, baseline 50, many-kbs 8x10, baseline 5 per KB,
                           memory 20 KBs, kb-size 100,1000 with 10 notes, 2 analytics repetitions, head-of-line backlog 500,
                           scale-out 1,2 workers x 16 KBs x 10 notes, 20 warm-up notes per worker)
          --results DIR    where results/<run>/ is created (default: results/ at the repository root)
          --keep           keep results/<run>/tmp (the seeded remotes and the worker's clones) and the scenario's database
          --list           list the scenarios
          -h, --help       this text

        environment: RabbitMq__Host, RabbitMq__Port, RabbitMq__Username, RabbitMq__Password,
        KBSYNC_RABBIT_MGMT_PORT (15672), ConnectionStrings__KbSync (an account with CREATEDB),
        KBSYNC_BENCH_WORKER_DLL, KBSYNC_BENCH_CLI_DLL (default: next to this program in artifacts/bin).
        """;

    /// <summary>Parses <paramref name="args"/>; throws <see cref="ArgumentException"/> with a readable message.</summary>
    public static BenchOptions Parse(IReadOnlyList<string> args)
    {
        var options = new BenchOptions();
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            string Value()
            {
                if (i + 1 >= args.Count)
                {
                    throw new ArgumentException($"{arg} needs a value.");
                }

                return args[++i];
            }

            switch (arg)
            {
                case "--notes": options.Notes = PositiveInt(arg, Value()); break;
                case "--warmup": options.Warmup = NonNegativeInt(arg, Value()); break;
                case "--sizes":
                    options.Sizes.AddRange(Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(s => PositiveInt(arg, s.Replace("_", ""))));
                    break;
                case "--reps": options.Repetitions = PositiveInt(arg, Value()); break;
                case "--rows": options.Rows = PositiveInt(arg, Value().Replace("_", "", StringComparison.Ordinal)); break;
                case "--burst": options.BurstNotes = PositiveInt(arg, Value()); break;
                case "--writers": options.BaselineWriters = PositiveInt(arg, Value()); break;
                case "--baseline-burst": options.BaselineBurstNotes = PositiveInt(arg, Value()); break;
                case "--baseline-many-notes": options.BaselineManyNotes = PositiveInt(arg, Value()); break;
                case "--many-kbs": options.ManyKbs = PositiveInt(arg, Value()); break;
                case "--many-notes": options.ManyNotes = PositiveInt(arg, Value()); break;
                case "--scale-workers":
                    options.ScaleWorkers.AddRange(Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(s => PositiveInt(arg, s)));
                    break;
                case "--cpu-per-worker":
                    var cpus = Value();
                    options.CpuPerWorker = double.TryParse(cpus, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var c) && c is >= 0.01 and <= 64
                        ? c
                        : throw new ArgumentException($"{arg}: '{cpus}' is not a number of CPUs from 0.01 to 64.");
                    break;
                case "--scale-kbs": options.ScaleKbs = PositiveInt(arg, Value()); break;
                case "--scale-notes": options.ScaleNotes = PositiveInt(arg, Value()); break;
                case "--scale-warmup": options.ScaleWarmup = NonNegativeInt(arg, Value()); break;
                case "--scale-rehearsals": options.ScaleRehearsals = NonNegativeInt(arg, Value()); break;
                case "--scale-steps": options.ScaleSteps = PositiveInt(arg, Value()); break;
                case "--scale-remote":
                    options.ScaleRemote = Value() is "http" or "local" ? args[i] : throw new ArgumentException($"{arg}: '{args[i]}' is neither http nor local.");
                    break;
                case "--memory-kbs": options.MemoryKbs = PositiveInt(arg, Value()); break;
                case "--hol-backlog": options.HolBacklog = PositiveInt(arg, Value()); break;
                case "--hol-lookahead":
                    options.HolLookaheads.AddRange(Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(v => PositiveInt(arg, v)));
                    break;
                case "--max-batch-size":
                    options.BurstBatchSizes.AddRange(Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(v => PositiveInt(arg, v)));
                    break;
                case "--burst-in-flight":
                    options.BurstInFlight.AddRange(Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(v => PositiveInt(arg, v)));
                    break;
                case "--burst-poison": options.BurstPoisonNotes = NonNegativeInt(arg, Value()); break;
                case "--latency-ms": options.LatencyMs = NonNegativeInt(arg, Value()); break;
                case "--quick": options.Quick = true; break;
                case "--results": options.ResultsRoot = Value(); break;
                case "--keep": options.Keep = true; break;
                case "--list": options.List = true; break;
                case "-h" or "--help": options.Help = true; break;
                default:
                    if (arg.StartsWith('-'))
                    {
                        throw new ArgumentException($"Unknown option {arg}.");
                    }

                    options.Scenarios.Add(arg);
                    break;
            }
        }

        if (options.Quick)
        {
            // only where the command line did not say otherwise
            string[] given = [.. args];
            bool Given(string name) => given.Contains(name);
            if (!Given("--notes")) options.Notes = 10;
            if (!Given("--reps")) options.Repetitions = 2;
            if (!Given("--rows")) options.Rows = 100_000;
            if (!Given("--burst")) options.BurstNotes = 100;
            if (!Given("--many-kbs")) options.ManyKbs = 8;
            if (!Given("--many-notes")) options.ManyNotes = 10;
            if (!Given("--memory-kbs")) options.MemoryKbs = 20;
            if (!Given("--baseline-burst")) options.BaselineBurstNotes = 50;
            if (!Given("--baseline-many-notes")) options.BaselineManyNotes = 5;
            if (!Given("--hol-backlog")) options.HolBacklog = 500;
            if (options.Sizes.Count == 0) options.Sizes.AddRange([100, 1_000]);
            if (options.ScaleWorkers.Count == 0) options.ScaleWorkers.AddRange([1, 2]);
            if (!Given("--scale-kbs")) options.ScaleKbs = 16;
            if (!Given("--scale-notes")) options.ScaleNotes = 10;
            if (!Given("--scale-warmup")) options.ScaleWarmup = 20;
            if (!Given("--scale-steps")) options.ScaleSteps = 1;
        }

        if (options.Sizes.Count == 0)
        {
            options.Sizes.AddRange([100, 1_000, 10_000]);
        }

        if (options.BurstInFlight.Count == 0)
        {
            options.BurstInFlight.AddRange([1, options.BurstNotes]);
        }

        if (options.ScaleWorkers.Count == 0)
        {
            options.ScaleWorkers.AddRange([1, 2, 4, 8]);
        }

        return options;
    }

    private static int PositiveInt(string option, string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0 ? n : throw new ArgumentException($"{option}: '{value}' is not a positive whole number.");

    private static int NonNegativeInt(string option, string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : throw new ArgumentException($"{option}: '{value}' is not a whole number.");
}

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

    /// <summary>The baseline's burst: the first this many of the burst's notes (it is serial under its lock, so its notes/s is steady).</summary>
    public int BaselineBurstNotes { get; set; } = 150;

    /// <summary>The baseline's notes per KB in many-kbs (the first this many of each KB's).</summary>
    public int BaselineManyNotes { get; set; } = 10;

    /// <summary>Concurrent git-CLI writers in the baseline.</summary>
    public int BaselineWriters { get; set; } = 4;

    /// <summary>KBs and notes per KB for many-kbs.</summary>
    public int ManyKbs { get; set; } = 32;
    public int ManyNotes { get; set; } = 30;

    /// <summary>KBs for the memory scenario (each cloned by one worker).</summary>
    public int MemoryKbs { get; set; } = 100;

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
          --writers N      concurrent git-CLI writers of the baseline (default 4)
          --baseline-burst N       the baseline writes the first N of the burst's notes (default 150)
          --baseline-many-notes N  the baseline writes the first N notes of each KB in many-kbs (default 10)
          --many-kbs N     KBs in many-kbs (default 32); --many-notes N notes per KB (default 30)
          --memory-kbs N   KBs cloned by the worker in memory (default 100)
          --latency-ms N   delay added per HTTP request of the slow remote (default 100)
          --quick          small sizes to try it out (burst 100, baseline 50, many-kbs 8x10, baseline 5 per KB,
                           memory 20 KBs, kb-size 100,1000 with 10 notes, 2 analytics repetitions)
          --results DIR    where results/<run>/ is created (default: results/ at the repository root)
          --keep           keep results/<run>/tmp (the seeded remotes and the worker's clones)
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
                case "--memory-kbs": options.MemoryKbs = PositiveInt(arg, Value()); break;
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
            if (options.Sizes.Count == 0) options.Sizes.AddRange([100, 1_000]);
        }

        if (options.Sizes.Count == 0)
        {
            options.Sizes.AddRange([100, 1_000, 10_000]);
        }

        return options;
    }

    private static int PositiveInt(string option, string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0 ? n : throw new ArgumentException($"{option}: '{value}' is not a positive whole number.");

    private static int NonNegativeInt(string option, string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : throw new ArgumentException($"{option}: '{value}' is not a whole number.");
}

using System.CommandLine;
using System.CommandLine.Help;
using KbSync.IntegrationTests.Fixtures;
using KbSync.Producer.Cli;

namespace KbSync.IntegrationTests.Pipeline;

/// <summary>
/// Every option of every <c>kbsync</c> command, as the CLI's own command tree lists them, given
/// malformed to the real CLI process: without its value, with a value of the wrong form (a flag
/// given a word, a number or an id that is not one), and, where the option has a rule, a value that
/// breaks it; every argument left out and, where it has a rule, breaking it; an unknown option. Each
/// is bad input: exit code 2, one line on standard error that names the option, argument or value, no
/// .NET type name, nothing on standard output. An option or argument the CLI gains without a line
/// here fails the test. The cases run two at a time (each is a CLI process).
/// </summary>
[Collection(ServicesCollection.Name)]
public sealed class CliBadInputTests(RabbitMqService rabbit, PostgresService postgres) : IAsyncLifetime
{
    private const string Kb = "walked-kb";
    private static readonly string AnyId = Guid.NewGuid().ToString();

    /// <summary>Valid arguments (and required options) of each command, so that only the option under test is wrong.</summary>
    private static readonly Dictionary<string, string[]> Baseline = new()
    {
        ["kb add"] = ["walked-new"],
        ["kb protect"] = [Kb],
        ["note"] = [Kb, "a note", "--user", "alice"],
        ["agent"] = [Kb, "an instruction", "--user", "alice"],
        ["status"] = [AnyId],
        ["user add"] = ["walked-user", "--email", "walked@tests.kbsync.invalid"],
        ["token create"] = [KbSyncSandbox.TestPrincipal],
        ["token revoke"] = [AnyId],
        ["user disable"] = ["walked-nobody"],
        ["grant"] = [Kb, KbSyncSandbox.TestPrincipal, "read"],
        ["revoke"] = [Kb, KbSyncSandbox.TestPrincipal, "read"],
    };

    /// <summary>
    /// A value that breaks each argument's rule, by "command argument"; null for free text (only a
    /// missing value is malformed). Every argument is also left out.
    /// </summary>
    private static readonly Dictionary<string, string?> ArgumentBreakers = new()
    {
        ["kb add kb"] = "Bad_Id",
        ["kb protect kb"] = "../../etc",
        ["note kb"] = "../../etc",
        ["note text"] = null,
        ["agent kb"] = "Bad_Id",
        ["agent instruction"] = null,
        ["status operation-id"] = "not-an-id",
        ["token create user"] = new string('x', 201),
        ["token revoke token-id"] = "not-an-id",
        ["user add name"] = "bad name!",
        ["user disable name"] = "bad name!",
        ["grant kb"] = "Bad_Id",
        ["grant user"] = new string('x', 201),
        ["grant right"] = "root",
        ["revoke kb"] = "Bad_Id",
        ["revoke user"] = new string('x', 201),
        ["revoke right"] = "root",
    };

    /// <summary>
    /// A value that breaks each option's rule, by "command option"; null for free text (any words are
    /// valid: only a missing value is malformed). Flags and typed options are also given a wrong form.
    /// </summary>
    private static readonly Dictionary<string, string?> RuleBreakers = new()
    {
        ["kb add --remote"] = "https://bob:s3cret@example.com/kb.git",
        ["kb add --branch"] = "bad..branch",
        ["kb add --token-env"] = "NOT A VARIABLE",
        ["kb protect --add"] = "../outside",
        ["kb protect --remove"] = "never/listed/",
        ["note --user"] = new string('x', 201),
        ["note --title"] = null,
        ["note --category"] = null,
        ["note --tags"] = null,
        ["note --id"] = "not-an-id",
        ["note --timeout"] = "0",
        ["agent --user"] = new string('x', 201),
        ["agent --agent"] = null,
        ["agent --ops"] = "/no/such/ops.json",
        ["agent --id"] = "not-an-id",
        ["agent --timeout"] = "-5",
        ["history --kb"] = "../../etc",
        ["history --user"] = new string('x', 201),
        ["history --status"] = "finished",
        ["history --kind"] = "poem",
        ["history --since"] = "garbage",
        ["history --until"] = "7x",
        ["history --limit"] = "0",
        ["stats --kb"] = "Bad_Id",
        ["stats --since"] = "garbage",
        ["stats --until"] = "yesterday",
        ["stats --bucket"] = "soon",
        ["db migrate --admin"] = null,
        ["db migrate --email"] = "walked@tests.kbsync.invalid", // without --admin
        ["db prune --older-than"] = "soon",
        ["partitions change --to"] = "0",
        ["user add --email"] = "not-an-address",
        ["user add --role"] = "superuser",
        ["user add --broker-user"] = "",
        ["token create --label"] = null,
        ["api --urls"] = "not an address",
        ["api --metrics-urls"] = "http://127.0.0.1:0",
    };

    private KbSyncSandbox _sandbox = null!;

    public async Task InitializeAsync()
    {
        _sandbox = await KbSyncSandbox.CreateAsync(rabbit, postgres);
        await _sandbox.RegisterKbAsync(Kb, remote: null);
    }

    public async Task DisposeAsync() => await _sandbox.DisposeAsync();

    [Fact]
    public async Task Every_option_and_argument_of_every_command_given_malformed_exits_with_2_and_one_line_that_names_it()
    {
        var cases = Cases().ToList();
        var wrong = new System.Collections.Concurrent.ConcurrentBag<string>();
        await Parallel.ForEachAsync(cases, new ParallelOptions { MaxDegreeOfParallelism = 2 }, async (c, _) =>
        {
            var (label, named, args) = c;
            var result = await CliRunner.RunAsync(_sandbox.Environment(), args);
            var lines = result.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (result.ExitCode != 2 || lines.Length != 1 || result.Output.Length > 0)
            {
                wrong.Add($"{label}: exit {result.ExitCode}, {lines.Length} line(s) on stderr, {result.Output.Length} characters on stdout: {Cut(result.Error + result.Output)}");
            }
            else if (!named.Any(n => lines[0].Contains(n, StringComparison.Ordinal)) || lines[0].Contains("System.", StringComparison.Ordinal) || lines[0].Contains('`'))
            {
                wrong.Add($"{label}: the line names neither {string.Join(" nor ", named.Select(n => $"'{Cut(n)}'"))}, or shows a .NET type: {lines[0]}");
            }
        });

        Assert.True(wrong.Count == 0, $"{wrong.Count} of {cases.Count} malformed options and arguments were not bad input as designed:\n{string.Join("\n", wrong)}");
    }

    [Fact]
    public async Task History_accepts_ages_wherever_it_accepts_times()
    {
        var history = await CliRunner.RunAsync(_sandbox.Environment(), "history", "--since", "7d", "--until", "90m", "--json");

        Assert.True(history.ExitCode == 0, history.ToString());
        Assert.Equal("[]", history.Output.Trim());
    }

    /// <summary>Per option: its label, what the error line must name (the option, or the value), and the arguments.</summary>
    private static IEnumerable<(string Label, string[] Named, string[] Args)> Cases()
    {
        foreach (var (path, command) in Leaves(KbSyncCli.CreateRoot(), []))
        {
            var words = path.Split(' ');
            var arguments = Baseline.GetValueOrDefault(path, []).Take(command.Arguments.Count).ToArray();
            var options = Baseline.GetValueOrDefault(path, []).Skip(command.Arguments.Count).ToArray();
            Assert.True(arguments.Length == command.Arguments.Count, $"No valid arguments for '{path}': add them to {nameof(Baseline)}.");
            if (path == "note")
            {
                yield return ($"{path} --no-such-option", ["--no-such-option"], [.. words, .. arguments, .. options, "--no-such-option"]); // one parser for all
            }

            for (var n = 0; n < command.Arguments.Count; n++)
            {
                var argument = command.Arguments[n];
                var key = $"{path} {argument.Name}";
                Assert.True(ArgumentBreakers.ContainsKey(key), $"No malformed value for argument '{key}': add it to {nameof(ArgumentBreakers)} (null for free text).");
                yield return ($"{key} left out", [argument.Name, $"<{argument.Name}>"], [.. words, .. arguments[..n], .. options]);
                if (ArgumentBreakers[key] is { } breaker)
                {
                    yield return ($"{key} {Cut(breaker)}", [argument.Name, breaker, .. Said.GetValueOrDefault(key, [])], [.. words, .. arguments[..n], breaker, .. arguments[(n + 1)..], .. options]);
                }
            }

            foreach (var option in command.Options.Where(o => o is not HelpOption && o.Name != "--version"))
            {
                var baseline = Without(Baseline.GetValueOrDefault(path, []), option.Name); // a required option is given once, malformed
                var key = $"{path} {option.Name}";
                var flag = option.ValueType == typeof(bool);
                if (flag)
                {
                    yield return ($"{key}=maybe", [option.Name], [.. words, .. baseline, $"{option.Name}=maybe"]);
                    continue;
                }

                Assert.True(RuleBreakers.ContainsKey(key), $"No malformed value for '{key}': add it to {nameof(RuleBreakers)} (null for free text).");
                yield return ($"{key} without a value", [option.Name], [.. words, .. baseline, option.Name]);
                if (RuleBreakers[key] is { } breaker)
                {
                    yield return ($"{key} {Cut(breaker)}", [option.Name, option.Name.TrimStart('-'), breaker, .. Said.GetValueOrDefault(key, [])], [.. words, .. baseline, option.Name, breaker]);
                }
            }
        }
    }

    /// <summary>Where an error names what the option sets in the words the README uses rather than the option's name.</summary>
    private static readonly Dictionary<string, string[]> Said = new()
    {
        ["kb add --token-env"] = ["token variable"],
    };

    private static string[] Without(string[] args, string option)
    {
        var at = Array.IndexOf(args, option);
        return at < 0 ? args : [.. args[..at], .. args[(at + 2)..]];
    }

    /// <summary>Every command that runs something, with its path ("kb add").</summary>
    private static IEnumerable<(string Path, Command Command)> Leaves(Command command, string[] path)
    {
        if (command.Action is not null && path.Length > 0)
        {
            yield return (string.Join(' ', path), command);
        }

        foreach (var sub in command.Subcommands.SelectMany(sub => Leaves(sub, [.. path, sub.Name])))
        {
            yield return sub;
        }
    }

    private static string Cut(string text) => text.Length <= 200 ? text : text[..200] + "…";
}

using System.Text;

namespace KbSync.IntegrationTests.Fixtures;

/// <summary>Runs the real <c>kbsync</c> CLI (artifacts/bin/KbSync.Producer/&lt;configuration&gt;/kbsync.dll) with a sandbox's environment.</summary>
public static class CliRunner
{
    public static Task<CliResult> RunAsync(IReadOnlyDictionary<string, string> environment, params string[] args) =>
        RunWithInputAsync(environment, standardInput: "", args);

    /// <summary>Runs the CLI with <paramref name="standardInput"/> on its standard input (UTF-8); it is killed after 2 minutes.</summary>
    public static async Task<CliResult> RunWithInputAsync(IReadOnlyDictionary<string, string> environment, string standardInput, params string[] args)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var cli = await ProcessRunner.RunAsync("dotnet", [CliAssembly(), .. args], environment,
            writeInput: input => input.WriteAsync(Encoding.UTF8.GetBytes(standardInput)).AsTask(), cancellationToken: timeout.Token);
        return new CliResult(cli.ExitCode, cli.Output, cli.Error);
    }

    /// <summary>
    /// Starts <c>kbsync api</c> on a free loopback port, with its metrics on another
    /// (<see cref="ApiProcess.MetricsUrl"/>), and waits until it answers /health. Its
    /// <see cref="ApiProcess.Http"/> sends <paramref name="bearerToken"/>; without one, a token of the
    /// sandbox's admin <see cref="KbSyncSandbox.TestPrincipal"/> made with the real <c>kbsync token create</c>.
    /// </summary>
    public static async Task<ApiProcess> StartApiAsync(IReadOnlyDictionary<string, string> environment, string? bearerToken = null)
    {
        bearerToken ??= await CreateTokenAsync(environment, KbSyncSandbox.TestPrincipal);
        return await ApiProcess.StartAsync(environment, bearerToken, CliAssembly());
    }

    /// <summary>A new API token of <paramref name="principal"/>, from <c>kbsync token create</c> (it prints the token alone on stdout).</summary>
    public static async Task<string> CreateTokenAsync(IReadOnlyDictionary<string, string> environment, string principal)
    {
        var created = await RunAsync(environment, "token", "create", principal, "--label", "tests");
        return created.ExitCode == 0 ? created.Output.Trim() : throw new InvalidOperationException($"kbsync token create {principal} failed: {created}");
    }

    private static string CliAssembly() => BuiltPrograms.Existing(BuiltPrograms.Cli);
}

public sealed record CliResult(int ExitCode, string Output, string Error)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout ---\n{Output}\n--- stderr ---\n{Error}";
}

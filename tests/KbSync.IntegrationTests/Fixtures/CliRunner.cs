using System.Diagnostics;
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
        var ports = FreePorts.Loopback(2);
        var url = $"http://127.0.0.1:{ports[0]}";
        var metricsUrl = $"http://127.0.0.1:{ports[1]}";
        var info = new ProcessStartInfo("dotnet", [CliAssembly(), "api", "--urls", url, "--metrics-urls", metricsUrl]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var (name, value) in environment)
        {
            info.Environment[name] = value;
        }

        var api = new ApiProcess(Process.Start(info)!, new Uri(url), new Uri(metricsUrl), bearerToken);
        for (var waited = 0; ; waited += 200)
        {
            try
            {
                if ((await api.Http.GetAsync("/health")).IsSuccessStatusCode)
                {
                    return api;
                }
            }
            catch (HttpRequestException) when (waited < 60_000)
            {
                if (api.HasExited)
                {
                    throw new InvalidOperationException($"kbsync api exited before it answered /health:\n{api.Output}");
                }
            }

            await Task.Delay(200);
        }
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

/// <summary>A running <c>kbsync api</c>: <see cref="Http"/> sends its bearer token; <see cref="Client"/> makes clients for other principals.</summary>
public sealed class ApiProcess : IAsyncDisposable
{
    private readonly Process _process;

    private readonly System.Text.StringBuilder _output = new();

    public ApiProcess(Process process, Uri baseAddress, Uri metricsUrl, string bearerToken)
    {
        _process = process;
        // read what it writes, so that a full pipe never stalls it; kept for failure messages
        process.OutputDataReceived += (_, line) => Append(line.Data);
        process.ErrorDataReceived += (_, line) => Append(line.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        BaseAddress = baseAddress;
        MetricsUrl = metricsUrl;
        Http = Client(bearerToken);
    }

    public Uri BaseAddress { get; }

    /// <summary>The metrics listener (<c>--metrics-urls</c>): <c>/metrics</c> without a token.</summary>
    public Uri MetricsUrl { get; }

    public HttpClient Http { get; }

    public bool HasExited => _process.HasExited;

    /// <summary>What the API wrote so far (stdout and stderr; the last 200,000 characters).</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>A client of this API sending <paramref name="bearerToken"/> (none: anonymous); the caller disposes it.</summary>
    public HttpClient Client(string? bearerToken, bool followRedirects = true)
    {
        var client = new HttpClient(new HttpClientHandler { AllowAutoRedirect = followRedirects, UseCookies = false }) { BaseAddress = BaseAddress };
        if (bearerToken is not null)
        {
            client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", bearerToken);
        }

        return client;
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
            if (_output.Length > 200_000)
            {
                _output.Remove(0, _output.Length - 200_000);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
        _process.Dispose();
    }
}

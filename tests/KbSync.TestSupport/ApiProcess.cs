using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;

namespace KbSync.TestSupport;

/// <summary>
/// A running <c>kbsync api</c> on a free loopback port, with its metrics on another
/// (<see cref="MetricsUrl"/>): <see cref="Http"/> sends its bearer token; <see cref="Client"/> makes
/// clients for other principals. Killed when disposed.
/// </summary>
public sealed class ApiProcess : IAsyncDisposable
{
    private const int MaxOutputChars = 200_000;
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(200);
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly StreamWriter? _log;
    private readonly TimeSpan _requestTimeout;

    private ApiProcess(Process process, Uri baseAddress, Uri metricsUrl, string bearerToken, string? logPath, TimeSpan requestTimeout)
    {
        _process = process;
        _log = logPath is null ? null : new StreamWriter(logPath, append: false) { AutoFlush = true };
        _requestTimeout = requestTimeout;
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

    /// <summary>What the API wrote so far (stdout and stderr; the last 200,000 characters; all of it in the log file, when one was given).</summary>
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

    /// <summary>
    /// Starts <c>dotnet &lt;cliDll&gt; api</c> (default: <see cref="BuiltPrograms.Cli"/>) with
    /// <paramref name="environment"/> and waits until it answers <c>/health</c> (default 60 s).
    /// <paramref name="requestTimeout"/> is every client's (default 100 s, HttpClient's).
    /// </summary>
    public static async Task<ApiProcess> StartAsync(
        IReadOnlyDictionary<string, string> environment,
        string bearerToken,
        string? cliDll = null,
        string? logPath = null,
        TimeSpan? startTimeout = null,
        TimeSpan? requestTimeout = null,
        CancellationToken cancellationToken = default)
    {
        var ports = FreePorts.Loopback(2);
        var url = $"http://127.0.0.1:{ports[0]}";
        var metricsUrl = $"http://127.0.0.1:{ports[1]}";
        var info = new ProcessStartInfo("dotnet", [BuiltPrograms.Existing(cliDll ?? BuiltPrograms.Cli), "api", "--urls", url, "--metrics-urls", metricsUrl])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var (name, value) in environment)
        {
            info.Environment[name] = value;
        }

        var api = new ApiProcess(Process.Start(info)!, new Uri(url), new Uri(metricsUrl), bearerToken, logPath, requestTimeout ?? TimeSpan.FromSeconds(100));
        try
        {
            await api.WaitUntilHealthyAsync(startTimeout ?? TimeSpan.FromSeconds(60), cancellationToken);
            return api;
        }
        catch
        {
            await api.DisposeAsync();
            throw;
        }
    }

    /// <summary>A client of this API sending <paramref name="bearerToken"/> (none: anonymous); the caller disposes it.</summary>
    public HttpClient Client(string? bearerToken, bool followRedirects = true)
    {
        var client = new HttpClient(new HttpClientHandler { AllowAutoRedirect = followRedirects, UseCookies = false }) { BaseAddress = BaseAddress, Timeout = _requestTimeout };
        if (bearerToken is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", bearerToken);
        }

        return client;
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
        _process.Dispose();
        lock (_output)
        {
            _log?.Dispose();
        }
    }

    private async Task WaitUntilHealthyAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var waiting = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                if ((await Http.GetAsync("/health", cancellationToken)).IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException) when (waiting.Elapsed < timeout)
            {
                if (HasExited)
                {
                    throw new InvalidOperationException($"kbsync api exited before it answered /health:\n{Output}");
                }
            }

            await Task.Delay(PollInterval, cancellationToken);
        }
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
            if (_output.Length > MaxOutputChars)
            {
                _output.Remove(0, _output.Length - MaxOutputChars);
            }

            try
            {
                _log?.WriteLine(line);
            }
            catch (ObjectDisposedException)
            {
                // the last lines after disposal are dropped
            }
        }
    }
}

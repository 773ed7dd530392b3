using System.Diagnostics;

namespace KbSync.IntegrationTests.Fixtures;

/// <summary>Runs the real <c>kbsync</c> CLI (artifacts/bin/KbSync.Producer/&lt;configuration&gt;/kbsync.dll) with a sandbox's environment.</summary>
public static class CliRunner
{
    public static Task<CliResult> RunAsync(IReadOnlyDictionary<string, string> environment, params string[] args) =>
        RunWithInputAsync(environment, standardInput: "", args);

    public static async Task<CliResult> RunWithInputAsync(IReadOnlyDictionary<string, string> environment, string standardInput, params string[] args)
    {
        var info = new ProcessStartInfo("dotnet", [CliAssembly(), .. args])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var (name, value) in environment)
        {
            info.Environment[name] = value;
        }

        using var process = Process.Start(info)!;
        await process.StandardInput.WriteAsync(standardInput);
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        return new CliResult(process.ExitCode, await stdout, await stderr);
    }

    /// <summary>Starts <c>kbsync api</c> on a free loopback port and waits until it answers /health.</summary>
    public static async Task<ApiProcess> StartApiAsync(IReadOnlyDictionary<string, string> environment)
    {
        var url = $"http://127.0.0.1:{FreePort()}";
        var info = new ProcessStartInfo("dotnet", [CliAssembly(), "api", "--urls", url]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var (name, value) in environment)
        {
            info.Environment[name] = value;
        }

        var api = new ApiProcess(Process.Start(info)!, new HttpClient { BaseAddress = new Uri(url) });
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
            }

            await Task.Delay(200);
        }
    }

    public static int FreePort()
    {
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private static string CliAssembly()
    {
        var testOutput = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var path = Path.Combine(testOutput.Parent!.Parent!.FullName, "KbSync.Producer", testOutput.Name, "kbsync.dll");
        return File.Exists(path) ? path : throw new FileNotFoundException($"The CLI is not built at {path}: build the solution first.");
    }
}

public sealed record CliResult(int ExitCode, string Output, string Error)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout ---\n{Output}\n--- stderr ---\n{Error}";
}

public sealed class ApiProcess(Process process, HttpClient http) : IAsyncDisposable
{
    public HttpClient Http { get; } = http;

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        process.Kill(entireProcessTree: true);
        await process.WaitForExitAsync();
        process.Dispose();
    }
}

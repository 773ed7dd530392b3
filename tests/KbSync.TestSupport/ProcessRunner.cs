using System.Diagnostics;

namespace KbSync.TestSupport;

public sealed record ProcessResult(int ExitCode, string Output, string Error)
{
    public string Combined => (Output + "\n" + Error).Trim();
}

/// <summary>Runs a short-lived process to its end, capturing its output.</summary>
public static class ProcessRunner
{
    public static async Task<ProcessResult> RunAsync(
        string fileName,
        IEnumerable<string> arguments,
        IReadOnlyDictionary<string, string>? environment = null,
        string? workingDirectory = null,
        Func<Stream, Task>? writeInput = null,
        CancellationToken cancellationToken = default)
    {
        var info = new ProcessStartInfo(fileName, arguments)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = writeInput is not null,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Directory.GetCurrentDirectory(),
        };
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[name] = value;
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"Could not start {fileName}.");
        var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var error = process.StandardError.ReadToEndAsync(cancellationToken);
        try
        {
            if (writeInput is not null)
            {
                await writeInput(process.StandardInput.BaseStream);
                process.StandardInput.Close();
            }

            await process.WaitForExitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        return new ProcessResult(process.ExitCode, await output, await error);
    }

    /// <summary>Runs it and returns its standard output; throws with everything it said when it fails.</summary>
    public static async Task<string> CheckedAsync(
        string fileName,
        IEnumerable<string> arguments,
        IReadOnlyDictionary<string, string>? environment = null,
        Func<Stream, Task>? writeInput = null,
        CancellationToken cancellationToken = default)
    {
        var args = arguments.ToList();
        var result = await RunAsync(fileName, args, environment, null, writeInput, cancellationToken);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"'{fileName} {string.Join(' ', args)}' exited with {result.ExitCode}:\n{result.Combined}");
        }

        return result.Output;
    }

    /// <summary>The first line a tool prints, or "unknown" (for version strings).</summary>
    public static async Task<string> FirstLineOrUnknownAsync(string fileName, params string[] arguments)
    {
        try
        {
            var result = await RunAsync(fileName, arguments);
            var line = (result.ExitCode == 0 ? result.Output : "").Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault();
            return string.IsNullOrEmpty(line) ? "unknown" : line;
        }
        catch (Exception error) when (error is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            return "unknown";
        }
    }
}

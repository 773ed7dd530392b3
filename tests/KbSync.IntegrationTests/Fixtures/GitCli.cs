using System.Diagnostics;

namespace KbSync.IntegrationTests.Fixtures;

/// <summary>The git command line, as people and other tools use it on a KB's repositories.</summary>
public static class GitCli
{
    /// <summary>Runs git in <paramref name="folder"/> (or the current folder); returns its exit code and output (stdout, then stderr).</summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(string? folder, params string[] args)
    {
        var start = new ProcessStartInfo("git") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        if (folder is not null)
        {
            start.WorkingDirectory = folder;
        }

        start.Environment["GIT_TERMINAL_PROMPT"] = "0";
        using var git = Process.Start(start)!;
        var output = git.StandardOutput.ReadToEndAsync();
        var error = git.StandardError.ReadToEndAsync();
        await git.WaitForExitAsync();
        return (git.ExitCode, await output + await error);
    }

    /// <summary>Runs git and returns its trimmed output; throws with git's output if it fails.</summary>
    public static async Task<string> OutputAsync(string? folder, params string[] args)
    {
        var (code, output) = await RunAsync(folder, args);
        return code == 0 ? output.Trim() : throw new InvalidOperationException($"git {string.Join(' ', args)} failed ({code}): {output}");
    }

    /// <summary>Fails unless <c>git fsck</c> finds every object the repository's refs reach (unreferenced objects are fine).</summary>
    public static Task AssertCompleteAsync(string gitDirectory) => OutputAsync(null, "--git-dir=" + gitDirectory, "fsck", "--full", "--no-dangling");
}

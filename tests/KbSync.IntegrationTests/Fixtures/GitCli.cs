namespace KbSync.IntegrationTests.Fixtures;

/// <summary>The git command line, as people and other tools use it on a KB's repositories.</summary>
public static class GitCli
{
    /// <summary>Runs git in <paramref name="folder"/> (or the current folder); returns its exit code and output (stdout, then stderr).</summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(string? folder, params string[] args)
    {
        var git = await ProcessRunner.RunAsync("git", args, NoPrompt, folder);
        return (git.ExitCode, git.Output + git.Error);
    }

    /// <summary>Runs git and returns its trimmed output; throws with git's output if it fails.</summary>
    public static async Task<string> OutputAsync(string? folder, params string[] args)
    {
        var (code, output) = await RunAsync(folder, args);
        return code == 0 ? output.Trim() : throw new InvalidOperationException($"git {string.Join(' ', args)} failed ({code}): {output}");
    }

    private static readonly Dictionary<string, string> NoPrompt = new() { ["GIT_TERMINAL_PROMPT"] = "0" };

    /// <summary>Fails unless <c>git fsck</c> finds every object the repository's refs reach (unreferenced objects are fine).</summary>
    public static Task AssertCompleteAsync(string gitDirectory) => OutputAsync(null, "--git-dir=" + gitDirectory, "fsck", "--full", "--no-dangling");
}


namespace KbSync.IntegrationTests.Fixtures;

/// <summary>
/// A person pushing to the KB directly with the git command line, behind KbSync's back. On a
/// rejected push it does what a careful person does: fetch, reset to the remote, redo its change.
/// Its commits are authored by <paramref name="name"/>; numbering goes on across calls. Each adds a
/// line to <paramref name="indexFile"/> (KB-relative), as a person keeping the index would.
/// </summary>
public sealed class ForeignWriter(string remoteUrl, string workFolder, string branch = "main", string name = "foreign", string indexFile = "index.md")
{
    private int _next;

    public List<string> Pushed { get; } = [];

    /// <summary>Writes <paramref name="count"/> commits, each adding <c>&lt;name&gt;/&lt;n&gt;.md</c> and the line <c>- &lt;name&gt; line &lt;n&gt;</c> to the index file.</summary>
    public async Task WriteAsync(int count, TimeSpan pause, CancellationToken cancellationToken = default)
    {
        if (!Directory.Exists(workFolder))
        {
            await Git(null, "clone", "-q", remoteUrl, workFolder);
            await Git(workFolder, "config", "user.name", name);
            await Git(workFolder, "config", "user.email", $"{name}@example.com");
        }

        for (var end = _next + count; _next < end; _next++)
        {
            var n = _next;
            for (var attempt = 1; ; attempt++)
            {
                await Git(workFolder, "fetch", "-q", "origin");
                var hasBranch = (await Git(workFolder, "ls-remote", "--heads", "origin", branch)).Length > 0;
                if (hasBranch)
                {
                    await Git(workFolder, "checkout", "-q", "-B", branch, $"origin/{branch}");
                }
                else
                {
                    await Git(workFolder, "checkout", "-q", "--orphan", branch);
                }

                Directory.CreateDirectory(Path.Combine(workFolder, name));
                await File.WriteAllTextAsync(Path.Combine(workFolder, name, $"{n}.md"), $"Foreign note {n}\n", cancellationToken);
                var index = Path.Combine(workFolder, indexFile);
                Directory.CreateDirectory(Path.GetDirectoryName(index)!);
                await File.AppendAllTextAsync(index, $"- {name} line {n}\n", cancellationToken);
                await Git(workFolder, "add", "-A");
                await Git(workFolder, "commit", "-q", "-m", $"Foreign commit {n}");
                if (await TryGit(workFolder, "push", "-q", "origin", $"HEAD:refs/heads/{branch}"))
                {
                    Pushed.Add($"Foreign commit {n}");
                    break;
                }

                if (attempt > 50)
                {
                    throw new InvalidOperationException($"The foreign writer could not push commit {n} in 50 attempts.");
                }
            }

            await Task.Delay(pause, cancellationToken);
        }
    }

    private static Task<string> Git(string? folder, params string[] args) => GitCli.OutputAsync(folder, args);

    private static async Task<bool> TryGit(string folder, params string[] args) => (await GitCli.RunAsync(folder, args)).ExitCode == 0;
}

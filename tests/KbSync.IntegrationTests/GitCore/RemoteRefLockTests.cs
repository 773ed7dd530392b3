using System.Diagnostics;
using KbSync.Contracts;
using KbSync.IntegrationTests.Fixtures;
using KbSync.KbWorker.Git;
using Microsoft.Extensions.Logging;

namespace KbSync.IntegrationTests.GitCore;

/// <summary>
/// The lock KbSync takes on a branch of a local remote, against real git repositories, git itself and
/// real processes standing in for other writers: git respects it, it respects git's, and a lock
/// whose recorded KbSync writer is provably dead is cleared, while any other is left alone.
/// </summary>
public sealed class RemoteRefLockTests : IAsyncLifetime
{
    private readonly TempFolder _folder = new();
    private readonly Logs _logs = new();
    private readonly RefLockOwner _self = RefLockOwner.Current("w-test");
    private string _remote = null!;
    private string _first = null!;
    private string _second = null!;

    private string BranchLock => Path.Combine(_remote, "refs", "heads", "main.lock");
    private string Record => Path.Combine(_remote, "kbsync", "ref-locks", "main");

    public async Task InitializeAsync()
    {
        _remote = new GitRemote(_folder.Combine("remote.git")).Path;
        await Git("hash-object", "-t", "tree", "-w", "/dev/null"); // the empty tree, which the commits below hold
        _first = await CommitAsync("first", parent: null);
        await Git("update-ref", "refs/heads/main", _first);
        _second = await CommitAsync("second", _first);
    }

    public Task DisposeAsync()
    {
        _folder.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task A_lock_taken_then_renamed_moves_the_branch_and_leaves_neither_lock_nor_record()
    {
        using (var refLock = Take(_second, out _))
        {
            Assert.NotNull(refLock);
            Assert.Equal(_second + "\n", await File.ReadAllTextAsync(BranchLock));
            Assert.Equal(_self, RefLockOwner.Parse(await File.ReadAllTextAsync(Record)));
            refLock.Rename();
        }

        Assert.Equal(_second, await Git("rev-parse", "refs/heads/main"));
        Assert.False(File.Exists(BranchLock));
        Assert.False(File.Exists(Record));
        Assert.Empty(Directory.EnumerateFiles(Path.GetDirectoryName(Record)!));
        await GitCli.AssertCompleteAsync(_remote);
    }

    [Fact]
    public async Task Git_will_not_move_a_branch_while_KbSync_holds_its_lock()
    {
        using (var refLock = Take(_second, out _))
        {
            Assert.NotNull(refLock);
            var (exitCode, output) = await GitCli.RunAsync(null, "--git-dir=" + _remote, "update-ref", "refs/heads/main", _second, _first);
            Assert.NotEqual(0, exitCode);
            Assert.Contains("main.lock", output);
        }

        Assert.Equal(_first, await Git("rev-parse", "refs/heads/main")); // released without moving
        await Git("update-ref", "refs/heads/main", _second, _first);
    }

    [Fact]
    public async Task A_lock_git_holds_is_respected_and_left_as_it_is()
    {
        await File.WriteAllTextAsync(BranchLock, _second + "\n");

        using var refLock = Take(_first, out var busy);

        Assert.Null(refLock);
        Assert.Equal(BranchLock, busy!.LockFile);
        Assert.Contains("no KbSync record", busy.Holder);
        Assert.Equal(_second + "\n", await File.ReadAllTextAsync(BranchLock));
        Assert.False(File.Exists(Record), "a push that found the branch locked must not leave its record behind");
    }

    [Fact]
    public async Task A_lock_whose_recorded_KbSync_writer_is_alive_is_respected_and_names_it()
    {
        using var writer = Sleep();
        await LeaveLockAsync(RefLockOwner.OfProcess(writer.Id, "w-live")!, _second);

        using var refLock = Take(_second, out var busy);

        Assert.Null(refLock);
        Assert.Contains($"KbSync worker w-live (pid {writer.Id} on {Environment.MachineName}), which is running", busy!.Holder);
        Assert.True(File.Exists(BranchLock));
        Assert.True(File.Exists(Record));
        writer.Kill();
    }

    [Fact]
    public async Task A_lock_whose_recorded_KbSync_writer_died_is_removed_with_a_warning_and_the_lock_taken()
    {
        using var writer = Sleep();
        await LeaveLockAsync(RefLockOwner.OfProcess(writer.Id, "w-dead")!, _second);
        writer.Kill();
        await writer.WaitForExitAsync();

        using var refLock = Take(_second, out var busy);

        Assert.NotNull(refLock);
        Assert.Null(busy);
        Assert.Equal(_self, RefLockOwner.Parse(await File.ReadAllTextAsync(Record)));
        Assert.Contains(_logs.Lines, l => l.Level == LogLevel.Warning && l.Text.Contains($"removed the ref lock {BranchLock} left by KbSync worker w-dead (pid {writer.Id}"));
    }

    [Fact]
    public async Task A_lock_taken_by_someone_else_after_a_dead_writers_record_is_respected()
    {
        using var writer = Sleep();
        await LeaveLockAsync(RefLockOwner.OfProcess(writer.Id, "w-dead")!, _second);
        await File.WriteAllTextAsync(BranchLock, _first + "\n"); // not the value the dead writer recorded: not its lock
        writer.Kill();
        await writer.WaitForExitAsync();

        using var refLock = Take(_second, out var busy);

        Assert.Null(refLock);
        Assert.Contains("no KbSync record", busy!.Holder);
        Assert.Equal(_first + "\n", await File.ReadAllTextAsync(BranchLock));
        Assert.False(File.Exists(Record), "the dead writer's record is stale either way");
    }

    [Fact]
    public async Task A_lock_recorded_on_another_host_is_respected_even_if_a_process_here_had_its_pid()
    {
        using var writer = Sleep();
        var owner = RefLockOwner.OfProcess(writer.Id, "w-far")!;
        writer.Kill();
        await writer.WaitForExitAsync();
        await LeaveLockAsync(owner with { BootId = Guid.NewGuid().ToString() }, _second);

        using var refLock = Take(_second, out var busy);

        Assert.Null(refLock);
        Assert.Contains("KbSync worker w-far", busy!.Holder);
        Assert.Contains("cannot tell whether it is alive", busy.Holder);
        Assert.True(File.Exists(BranchLock));
    }

    [Fact]
    public async Task A_record_its_writer_never_finished_holds_for_a_few_seconds_then_is_cleared()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Record)!);
        await File.WriteAllTextAsync(Record, "");

        using (var young = Take(_second, out var busy))
        {
            Assert.Null(young);
            Assert.Contains("still writing", busy!.Holder);
        }

        File.SetLastWriteTimeUtc(Record, DateTime.UtcNow.AddMinutes(-1));
        using var old = Take(_second, out _);

        Assert.NotNull(old);
    }

    [Fact]
    public async Task A_branch_in_a_folder_is_locked_beside_its_ref_and_recorded_under_an_escaped_name()
    {
        using (var refLock = RemoteRefLock.TryTake(_remote, "team/notes", _second, _self, "kb", _logs, out _))
        {
            Assert.NotNull(refLock);
            Assert.Equal(Path.Combine(_remote, "refs", "heads", "team", "notes.lock"), refLock.LockFile);
            Assert.Equal(Path.Combine(_remote, "kbsync", "ref-locks", "team%2Fnotes"), refLock.Record);
            refLock.Rename();
        }

        Assert.Equal(_second, await Git("rev-parse", "refs/heads/team/notes"));
    }

    [Theory]
    [InlineData("/escape")]
    [InlineData("../../escape")]
    [InlineData("a/../../../escape")]
    [InlineData("main.lock")]
    [InlineData("")]
    public async Task A_branch_name_git_would_refuse_fails_the_push_as_an_invalid_request_before_touching_a_file(string branch)
    {
        var kb = new KbRemote("kb", _remote, branch, TokenEnv: null);
        var before = Directory.EnumerateFileSystemEntries(_folder.Path, "*", SearchOption.AllDirectories).ToList();

        var failure = Assert.Throws<GitFailure>(() => LocalRemotePush.Push(kb, "/no/such.pack", _first, _second, _self, _logs, out _));

        Assert.Equal(ReasonCodes.InvalidRequest, failure.ReasonCode);
        Assert.Contains("not a valid git branch name", failure.Message);
        Assert.Equal(before, Directory.EnumerateFileSystemEntries(_folder.Path, "*", SearchOption.AllDirectories).ToList());
        Assert.False(File.Exists("/escape.lock"));
        await GitCli.AssertCompleteAsync(_remote);
    }

    private RemoteRefLock? Take(string newHead, out RefLockBusy? busy) => RemoteRefLock.TryTake(_remote, "main", newHead, _self, "kb", _logs, out busy);

    /// <summary>What a KbSync writer killed while holding the lock leaves: its record, and the lock holding the value it recorded.</summary>
    private async Task LeaveLockAsync(RefLockOwner owner, string newHead)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Record)!);
        await File.WriteAllTextAsync(Record, RemoteRefLock.RecordOf(owner, newHead));
        await File.WriteAllTextAsync(BranchLock, newHead + "\n");
    }

    private async Task<string> CommitAsync(string message, string? parent)
    {
        string[] args = ["-c", "user.name=t", "-c", "user.email=t@example.com", "commit-tree", "4b825dc642cb6eb9a060e54bf8d69288fbee4904", "-m", message];
        return await Git(parent is null ? args : [.. args, "-p", parent]);
    }

    private Task<string> Git(params string[] args) => GitCli.OutputAsync(null, ["--git-dir=" + _remote, .. args]);

    private static Process Sleep() => Process.Start(new ProcessStartInfo("sleep", ["60"]))!;

    /// <summary>The log lines written, to check what a worker would say.</summary>
    private sealed class Logs : ILogger
    {
        public List<(LogLevel Level, string Text)> Lines { get; } = [];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Lines.Add((logLevel, formatter(state, exception)));
    }
}

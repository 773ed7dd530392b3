using System.Diagnostics;
using KbSync.KbWorker.Git;

namespace KbSync.UnitTests.Git;

/// <summary>
/// A ref lock's recorded writer is declared dead only when that is proven on this host: checked
/// against real processes (started, killed, left as zombies), never against a pid alone.
/// </summary>
public sealed class RefLockOwnerTests
{
    [Fact]
    public void This_process_is_alive()
    {
        Assert.Equal(RefLockWriterState.Alive, RefLockOwner.Current("w1").Check());
    }

    [Fact]
    public void A_process_that_was_killed_is_dead()
    {
        using var sleeper = Sleep();
        var owner = RefLockOwner.OfProcess(sleeper.Id, "w1")!;
        Assert.Equal(RefLockWriterState.Alive, owner.Check());

        sleeper.Kill();
        sleeper.WaitForExit();

        Assert.Equal(RefLockWriterState.Dead, owner.Check());
    }

    [Fact]
    public void A_pid_reused_by_another_process_is_not_mistaken_for_the_writer()
    {
        using var sleeper = Sleep();
        var now = RefLockOwner.OfProcess(sleeper.Id, "w1")!;
        var earlierProcessWithThatPid = now with { StartTicks = now.StartTicks - 100 };

        Assert.Equal(RefLockWriterState.Alive, now.Check());
        Assert.Equal(RefLockWriterState.Dead, earlierProcessWithThatPid.Check());
        sleeper.Kill();
    }

    [Fact]
    public void A_killed_process_its_parent_has_not_reaped_yet_is_dead()
    {
        // the child "sleep 0.2" exits under a parent (exec'd sleep) that never waits for it: a zombie
        using var parent = Process.Start(new ProcessStartInfo("sh", ["-c", "sleep 0.2 & echo $!; exec sleep 30"]) { RedirectStandardOutput = true })!;
        var zombie = int.Parse(parent.StandardOutput.ReadLine()!);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!File.ReadAllText($"/proc/{zombie}/stat").Contains(") Z ", StringComparison.Ordinal))
        {
            Assert.True(DateTime.UtcNow < deadline, "the child never became a zombie");
            Thread.Sleep(20);
        }

        var owner = RefLockOwner.OfProcess(zombie, "w1")!;

        Assert.Equal(RefLockWriterState.Dead, owner.Check());
        parent.Kill();
    }

    [Theory]
    [InlineData("machine")]
    [InlineData("boot")]
    [InlineData("pidns")]
    public void A_writer_recorded_on_another_host_or_container_is_never_declared_dead(string differs)
    {
        using var sleeper = Sleep();
        var owner = RefLockOwner.OfProcess(sleeper.Id, "w1")!;
        sleeper.Kill();
        sleeper.WaitForExit();
        Assert.Equal(RefLockWriterState.Dead, owner.Check()); // here it would be

        var elsewhere = differs switch
        {
            "machine" => owner with { Machine = owner.Machine + "-other" },
            "boot" => owner with { BootId = Guid.NewGuid().ToString() },
            _ => owner with { PidNamespace = "pid:[1]" },
        };

        Assert.Equal(RefLockWriterState.Elsewhere, elsewhere.Check());
    }

    [Fact]
    public void A_record_reads_back_as_the_same_owner_and_ignores_lines_it_does_not_know()
    {
        var owner = RefLockOwner.Current("w1");

        Assert.Equal(owner, RefLockOwner.Parse(owner.Format()));
        Assert.Equal(owner, RefLockOwner.Parse(owner.Format() + "head=0123456789abcdef0123456789abcdef01234567\n"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("kbsync-ref-lock 1\nworker=w1\npid=12\n")]
    [InlineData("kbsync-ref-lock 1\nworker=w1\npid=twelve\nstart=5\nmachine=m\nboot=b\npidns=p\n")]
    [InlineData("kbsync-ref-lock 1\nworker=w1\npid=0\nstart=5\nmachine=m\nboot=b\npidns=p\n")]
    [InlineData("0123456789abcdef0123456789abcdef01234567\n")]
    public void A_record_cut_short_or_not_a_record_names_no_owner(string text)
    {
        Assert.Null(RefLockOwner.Parse(text));
    }

    [Fact]
    public void A_worker_id_with_a_line_break_cannot_forge_a_field_of_the_record()
    {
        var owner = RefLockOwner.Current("w1\npid=1");

        var read = RefLockOwner.Parse(owner.Format())!;

        Assert.Equal(owner.Pid, read.Pid);
        Assert.DoesNotContain('\n', read.WorkerId);
    }

    [Fact]
    public void Its_description_names_the_worker_the_pid_and_the_host()
    {
        var owner = RefLockOwner.Current("w7");

        Assert.Equal($"KbSync worker w7 (pid {Environment.ProcessId} on {Environment.MachineName})", owner.ToString());
    }

    private static Process Sleep() => Process.Start(new ProcessStartInfo("sleep", ["30"]))!;
}

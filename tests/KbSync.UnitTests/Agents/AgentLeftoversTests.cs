using System.Diagnostics;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using KbSync.Contracts;
using KbSync.KbWorker.Agents;
using KbSync.KbWorker.Agents.Sandbox;

namespace KbSync.UnitTests.Agents;

/// <summary>
/// What an agent left in a real run folder: changes found by content, and everything that is not a plain file
/// or folder, or too big, refused from metadata before anything is opened.
/// </summary>
public sealed class AgentLeftoversTests : IDisposable
{
    private readonly RunFolder _run = RunFolder.CreateAt(Path.Combine(Path.GetTempPath(), $"kbsync-leftovers-{Guid.NewGuid():N}"));
    private readonly KbCopy _copy;

    public AgentLeftoversTests()
    {
        var clone = new InMemoryKbClone()
            .WithFile("index.md", "# Index\n")
            .WithFile("topics/a.md", "alpha\n")
            .WithFile("topics/b.md", "beta\n");
        _copy = KbCopy.Write(clone, _run.Kb);
    }

    public void Dispose() => _run.TryDelete(out _);

    [Fact]
    public void What_the_agent_created_changed_and_deleted_is_found_and_nothing_else()
    {
        File.WriteAllText(Kb("topics/a.md"), "alphA\n"); // same size: found by its content
        File.Delete(Kb("topics/b.md"));
        Directory.CreateDirectory(Kb("topics/new"));
        File.WriteAllText(Kb("topics/new/c.md"), "gamma\n");
        File.WriteAllText(Path.Combine(_run.Tmp, "scratch"), "not in the KB\n");

        var changes = Collect();

        Assert.Equal(["topics/a.md", "topics/b.md", "topics/new/c.md"], changes.Select(c => c.Path));
        Assert.Equal("alphA\n", Text(changes[0]));
        Assert.Null(changes[1].Content);
        Assert.Equal("gamma\n", Text(changes[2]));
    }

    [Fact]
    public async Task A_fifo_is_refused_without_being_opened()
    {
        Assert.Equal(0, MakeFifo(Kb("topics/pipe.md"), 0x1A4));

        var failure = await Assert.ThrowsAsync<AgentFailure>(() => Task.Run(Collect).WaitAsync(TimeSpan.FromSeconds(5)));

        Assert.Equal(ReasonCodes.AgentRefused, failure.ReasonCode);
        Assert.Contains("it left a FIFO (named pipe) at topics/pipe.md", failure.Message);
    }

    [Fact]
    public void A_socket_is_refused()
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        socket.Bind(new UnixDomainSocketEndPoint(Kb("topics/socket")));

        var failure = Assert.Throws<AgentFailure>(Collect);

        Assert.Contains("it left a socket at topics/socket", failure.Message);
    }

    [Fact]
    public void A_symlink_is_refused_even_to_a_file_of_the_kb()
    {
        File.CreateSymbolicLink(Kb("topics/link.md"), Kb("topics/a.md"));

        var failure = Assert.Throws<AgentFailure>(Collect);

        Assert.Contains("it left a symlink at topics/link.md", failure.Message);
    }

    [Fact]
    public void A_hard_link_is_refused()
    {
        Assert.Equal(0, HardLink(Kb("topics/a.md"), Kb("topics/same.md")));

        var failure = Assert.Throws<AgentFailure>(Collect);

        Assert.Contains("hard link", failure.Message);
    }

    [Fact]
    public void A_sparse_9_GB_file_is_refused_from_its_length_in_milliseconds()
    {
        Sparse(Kb("topics/huge.md"), 9L << 30);
        var clock = Stopwatch.StartNew();

        var failure = Assert.Throws<AgentFailure>(Collect);

        Assert.True(clock.ElapsedMilliseconds < 1000, $"took {clock.ElapsedMilliseconds} ms");
        Assert.Contains("topics/huge.md is 9663676416 bytes, more than the limit of 10485760", failure.Message);
    }

    [Fact]
    public void Files_over_the_total_limit_are_refused_from_their_lengths_before_any_is_read()
    {
        foreach (var name in new[] { "one", "two", "three" })
        {
            Sparse(Kb($"topics/{name}.md"), 2_000_000_000); // 6 GB together: reading them first could not even hold them
        }

        var clock = Stopwatch.StartNew();

        var failure = Assert.Throws<AgentFailure>(() => Collect(new AgentOptions { MaxFileBytes = 2_000_000_000, MaxChangedBytes = 1_000_000_000 }));

        Assert.True(clock.ElapsedMilliseconds < 1000, $"took {clock.ElapsedMilliseconds} ms");
        Assert.Contains("it changed 3 files and 6000000000 bytes; the limits are 1000 files and 1000000000 bytes", failure.Message);
    }

    [Fact]
    public void A_file_beside_the_kb_folder_is_refused()
    {
        File.WriteAllText(Path.Combine(_run.Root, "outside.md"), "sneaky\n");

        var failure = Assert.Throws<AgentFailure>(Collect);

        Assert.Contains("it wrote outside the KB (outside.md beside the KB folder)", failure.Message);
    }

    [Theory]
    [InlineData(".git/config", ".git")]
    [InlineData("topics/a:b.md", ":")]
    public void A_name_the_path_guard_refuses_is_refused(string path, string expected)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Kb(path))!);
        File.WriteAllText(Kb(path), "x\n");

        var failure = Assert.Throws<AgentFailure>(Collect);

        Assert.Equal(ReasonCodes.AgentRefused, failure.ReasonCode);
        Assert.Contains(expected, failure.Message);
    }

    [Fact]
    public void A_topics_only_agent_that_changes_a_file_outside_topics_is_refused()
    {
        File.WriteAllText(Kb("index.md"), "# Indeks\n");

        var failure = Assert.Throws<AgentFailure>(() => Collect(new AgentOptions { TopicsOnly = true }));

        Assert.Contains("it changed index.md, outside topics/", failure.Message);
    }

    private IReadOnlyList<AgentChange> Collect() => Collect(new AgentOptions());

    private IReadOnlyList<AgentChange> Collect(AgentOptions agent) => AgentLeftovers.Collect(agent, _copy, _run);

    private string Kb(string path) => Path.Combine(_run.Kb, path);

    private static string Text(AgentChange change) => Encoding.UTF8.GetString(change.Content!);

    private static void Sparse(string path, long length)
    {
        using var file = File.Create(path);
        file.SetLength(length);
    }

    [DllImport("libc", EntryPoint = "mkfifo", SetLastError = true)]
    private static extern int MakeFifo([MarshalAs(UnmanagedType.LPUTF8Str)] string path, uint mode);

    [DllImport("libc", EntryPoint = "link", SetLastError = true)]
    private static extern int HardLink([MarshalAs(UnmanagedType.LPUTF8Str)] string existing, [MarshalAs(UnmanagedType.LPUTF8Str)] string link);
}

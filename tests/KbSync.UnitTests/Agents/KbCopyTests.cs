using KbSync.KbWorker.Agents;
using KbSync.KbWorker.Agents.Sandbox;

namespace KbSync.UnitTests.Agents;

/// <summary>The copy of the tip an external agent works on, and the files of the KB it is not shown.</summary>
public sealed class KbCopyTests : IDisposable
{
    private readonly RunFolder _run = RunFolder.CreateAt(Path.Combine(Path.GetTempPath(), $"kbsync-copy-{Guid.NewGuid():N}"));

    private readonly InMemoryKbClone _clone = new InMemoryKbClone()
        .WithFile("topics/ok.md", "fine\n")
        .WithFile("topics/odd:name.md", "committed by someone else\n")
        .WithFile("CON/x.md", "a reserved device name on Windows\n")
        .WithFile("notes\\back.md", "a backslash would come back as a folder\n")
        .WithSymlink("topics/link.md", "ok.md");

    public void Dispose() => _run.TryDelete(out _);

    [Fact]
    public void Files_whose_names_the_path_guard_refuses_are_not_written_and_are_named_in_the_summary()
    {
        var copy = KbCopy.Write(_clone, _run.Kb);

        Assert.Equal(["topics/ok.md"], copy.Files.Keys);
        Assert.Equal(["topics/ok.md"], Directory.EnumerateFiles(_run.Kb, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(_run.Kb, f)));
        Assert.Equal(["CON/x.md", "notes\\back.md", "topics/odd:name.md"], copy.Hidden);
        Assert.Contains("Not shown to the agent and left unchanged: 3 file(s)", copy.HiddenNote());
        Assert.Contains("topics/odd:name.md", copy.HiddenNote());
    }

    [Fact]
    public void An_agent_that_changes_nothing_leaves_the_hidden_files_alone()
    {
        var copy = KbCopy.Write(_clone, _run.Kb);

        Assert.Empty(AgentLeftovers.Collect(new AgentOptions(), copy, _run));
    }

    [Fact]
    public void A_kb_without_odd_names_adds_nothing_to_the_summary()
    {
        var copy = KbCopy.Write(new InMemoryKbClone().WithFile("topics/ok.md", "fine\n"), _run.Kb);

        Assert.Empty(copy.Hidden);
        Assert.Equal("", copy.HiddenNote());
    }
}

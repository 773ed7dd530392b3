using KbSync.Contracts;
using KbSync.KbWorker;
using KbSync.KbWorker.Agents;
using KbSync.KbWorker.Git;
using KbSync.KbWorker.Locking;
using KbSync.KbWorker.Notes;
using KbSync.KbWorker.Operations;
using KbSync.KbWorker.Pipeline;
using KbSync.KbWorker.Telemetry;
using KbSync.Persistence.Entities;
using KbSync.Persistence.History;
using KbSync.UnitTests.Agents;
using KbSync.UnitTests.Doubles;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace KbSync.UnitTests.Operations;

/// <summary>
/// The operation pipeline below the history: one KB's groups under its lock and deadlines
/// (<see cref="KbGroupRunner"/>), each pulled, processed, pushed and replayed by <see cref="PushReplay"/>,
/// on an <see cref="InMemoryKbClone"/> whose <see cref="InMemoryRemote"/> refuses a push onto a head
/// that moved, as git does. Real note writer, agent runner and KB locks (in a temporary folder).
/// </summary>
public sealed class KbGroupRunnerTests : IDisposable
{
    private const string KbId = "team-notes";
    private static readonly DateTimeOffset December = new(2026, 12, 1, 9, 0, 0, TimeSpan.Zero);

    private readonly string _data = Path.Combine(Path.GetTempPath(), "kbsync-group-runner-" + Guid.NewGuid().ToString("N"));
    private readonly InMemoryRemote _remote = new InMemoryRemote().Write("topics/inbox/2026-11-30-earlier.md", "earlier\n", "Add note: earlier");
    private readonly Clones _clones;
    private readonly KbWorkerOptions _options;
    private readonly KbLocks _locks;
    private readonly KbGroupRunner _runner;

    public KbGroupRunnerTests()
    {
        _clones = new Clones(() => new InMemoryKbClone(_remote));
        _options = new KbWorkerOptions { WorkerId = "unit", DataPath = _data, MaxPushAttempts = 3, LockTimeout = TimeSpan.FromMilliseconds(200) };
        var options = Options.Create(_options);
        _locks = new KbLocks(options);
        var replay = new PushReplay(_clones, new NoteWriter(options), new AgentTaskRunner(options, NullLogger<AgentTaskRunner>.Instance),
            new StepReporter(new OperationWrites(new NoDatabase()), NullLogger<StepReporter>.Instance), new OperationTraces(), new WorkerMetrics(new TestMeters()),
            options, NullLogger<PushReplay>.Instance);
        _runner = new KbGroupRunner(_locks, replay, new OperationTraces(), options, NullLogger<KbGroupRunner>.Instance);
    }

    public void Dispose()
    {
        if (Directory.Exists(_data))
        {
            Directory.Delete(_data, recursive: true);
        }
    }

    [Fact]
    public async Task A_group_of_notes_is_committed_one_commit_each_and_pushed_once_without_fetching_again()
    {
        var notes = new[] { Note("first"), Note("second"), Note("third") };

        await RunAsync(notes);

        Assert.All(notes, n => Assert.Equal((OperationStatus.Succeeded, true), (n.Outcome!.Status, n.Outcome.Pushed)));
        Assert.Equal((1, 1), (_remote.Fetches, _remote.Pushes));
        Assert.Equal(["Add note: earlier", .. notes.Select(n => $"Add note: {n.Request.Note!.Text}")], _remote.Messages.Select(Subject));
        Assert.Equal(notes[2].Outcome!.CommitSha, _remote.Head);
    }

    [Fact]
    public async Task A_push_refused_because_someone_else_wrote_first_is_replayed_on_the_new_head_after_a_fetch()
    {
        _remote.BeforePush = remote =>
        {
            remote.BeforePush = null;
            remote.Write("topics/inbox/2026-12-01-theirs.md", "theirs\n", "Their note");
        };
        var notes = new[] { Note("mine"), Note("also mine") };

        await RunAsync(notes);

        Assert.All(notes, n => Assert.Equal((OperationStatus.Succeeded, true), (n.Outcome!.Status, n.Outcome.Pushed)));
        Assert.Equal((2, 2), (_remote.Fetches, _remote.Pushes));
        Assert.Equal(["Add note: earlier", "Their note", "Add note: mine", "Add note: also mine"], _remote.Messages.Select(Subject));
        Assert.Equal("theirs\n", _remote.ReadText("topics/inbox/2026-12-01-theirs.md")); // built on their head, never over it
        Assert.Equal(notes[1].Outcome!.CommitSha, _remote.Head);
        Assert.All(notes, n => Assert.True(n.Timings.PushMs > 0 && n.Timings.PullMs > 0));
    }

    [Fact]
    public async Task A_branch_that_keeps_moving_fails_the_group_as_non_fast_forward_after_the_last_attempt()
    {
        var foreign = 0;
        _remote.BeforePush = remote => remote.Write($"topics/inbox/theirs-{++foreign}.md", "theirs\n", "Their note");
        var note = Note("never lands");

        await RunAsync([note]);

        Assert.Equal(3, _remote.Pushes);
        Assert.Equal((OperationStatus.Failed, ReasonCodes.NonFastForward), (note.Outcome!.Status, note.Outcome.ErrorCode));
        Assert.Contains("kept moving; gave up after 3 attempts (KbWorker__MaxPushAttempts)", note.Outcome.ErrorMessage);
        Assert.DoesNotContain(_remote.Messages, m => m.Contains(note.Id.ToString()));
    }

    [Fact]
    public async Task A_branch_locked_by_another_writer_is_replayed_and_a_lock_that_stays_fails_as_remote_locked()
    {
        _remote.LockedPushes = 1;
        var landed = Note("after one lock");
        await RunAsync([landed]);
        Assert.Equal((OperationStatus.Succeeded, 2), (landed.Outcome!.Status, _remote.Pushes));

        _remote.LockedPushes = int.MaxValue;
        var blocked = Note("stays locked out");
        await RunAsync([blocked]);

        Assert.Equal(ReasonCodes.RemoteLocked, blocked.Outcome!.ErrorCode);
        Assert.Contains("the branch main of the test remote is locked: by a test; gave up after 3 attempts", blocked.Outcome.ErrorMessage);
    }

    [Fact]
    public async Task Text_already_saved_in_the_KB_is_a_duplicate_and_nothing_is_pushed()
    {
        await RunAsync([Note("said once")]);
        var again = Note("said once");
        var pushes = _remote.Pushes;

        await RunAsync([again]);

        Assert.Equal((OperationStatus.Duplicate, null), (again.Outcome!.Status, again.Outcome.CommitSha));
        Assert.Equal(pushes, _remote.Pushes);
    }

    [Fact]
    public async Task A_redelivered_request_whose_commit_is_on_the_remote_gets_that_commit_and_is_not_committed_again()
    {
        var first = Note("delivered twice");
        await RunAsync([first]);
        var redelivered = new PendingOperation(first.Request, December);
        var messages = _remote.Messages.Count;

        await RunAsync([redelivered, Note("new")]);

        Assert.Equal((OperationStatus.Succeeded, first.Outcome!.CommitSha), (redelivered.Outcome!.Status, redelivered.Outcome.CommitSha));
        Assert.Equal(messages + 1, _remote.Messages.Count);
    }

    [Fact]
    public async Task A_request_an_earlier_delivery_finished_is_left_alone()
    {
        var finished = Note("finished earlier");
        var earlier = new Dictionary<Guid, OperationOutcome> { [finished.Id] = OperationOutcome.Succeeded("abc", "topics/inbox/x.md", "x") };

        await RunAsync([finished], earlier: earlier);

        Assert.Null(finished.Outcome); // the run adopts the earlier outcome when it records (KbOperationRunner)
        Assert.Equal(0, _remote.Pushes);
    }

    [Fact]
    public async Task A_note_with_no_place_fails_alone_and_the_rest_of_its_group_is_pushed()
    {
        _remote.Write("topics/blocked", "a file where the category's folder goes\n");
        for (var sibling = 2; sibling <= NoteLayout.MaxSiblings; sibling++)
        {
            _remote.Write($"topics/blocked-{sibling}", "and at every sibling name\n");
        }

        var blocked = Note("nowhere to go", category: "blocked");
        var fine = Note("goes to the inbox");

        await RunAsync([blocked, fine]);

        Assert.Equal((OperationStatus.Failed, ReasonCodes.PathConflict), (blocked.Outcome!.Status, blocked.Outcome.ErrorCode));
        Assert.Equal((OperationStatus.Succeeded, true), (fine.Outcome!.Status, fine.Outcome.Pushed));
        Assert.True(blocked.Timings.ProcessMs > 0);
    }

    [Fact]
    public async Task A_git_failure_fails_its_group_with_its_reason_and_the_next_group_goes_on()
    {
        _remote.FetchFailure = new GitFailure(ReasonCodes.RemoteUnreachable, "KB 'team-notes': the remote did not answer.");
        var task = Agent("list the topics");
        var note = Note("after the agent");
        _clones.OnOpen = _ => _remote.FetchFailure = _clones.Opened > 1 ? null : _remote.FetchFailure; // the next group opens a clone that fetches

        await RunAsync([task, note]);

        Assert.Equal((OperationStatus.Failed, ReasonCodes.RemoteUnreachable, "KB 'team-notes': the remote did not answer."), (task.Outcome!.Status, task.Outcome.ErrorCode, task.Outcome.ErrorMessage));
        Assert.Equal((OperationStatus.Succeeded, true), (note.Outcome!.Status, note.Outcome.Pushed));
    }

    [Fact]
    public async Task A_group_past_its_deadline_times_out_naming_the_setting()
    {
        _options.NoteTimeout = TimeSpan.FromMilliseconds(200);
        _remote.FetchDelay = TimeSpan.FromSeconds(30);
        var note = Note("slow remote");

        await RunAsync([note]);

        Assert.Equal((OperationStatus.TimedOut, ReasonCodes.TimedOut), (note.Outcome!.Status, note.Outcome.ErrorCode));
        Assert.Equal("The operation passed its deadline of 0.2 s (KbWorker__NoteTimeout).", note.Outcome.ErrorMessage);
    }

    [Fact]
    public async Task A_KB_locked_past_the_lock_timeout_fails_as_lock_timeout()
    {
        using var held = await _locks.AcquireAsync(KbId, TimeSpan.FromSeconds(5), CancellationToken.None);
        var note = Note("waits for the lock");

        await RunAsync([note]);

        Assert.Equal(ReasonCodes.LockTimeout, note.Outcome!.ErrorCode);
        Assert.Equal(0, _remote.Fetches);
    }

    [Fact]
    public async Task A_KB_that_is_not_registered_fails_as_unknown_kb()
    {
        var note = Note("to nowhere");

        await _runner.RunAsync(Run(registered: null), [note], CancellationToken.None);

        Assert.Equal(ReasonCodes.UnknownKb, note.Outcome!.ErrorCode);
    }

    [Fact]
    public async Task A_damaged_clone_is_discarded_and_the_group_runs_again_on_a_fresh_one()
    {
        _remote.FetchFailure = new GitFailure(ReasonCodes.CorruptClone, "KB 'team-notes': the worker's clone failed during fetch; it is cloned again.");
        _clones.OnOpen = _ => _remote.FetchFailure = _clones.Opened > 1 ? null : _remote.FetchFailure;
        var note = Note("survives a damaged clone");

        await RunAsync([note]);

        Assert.Equal([KbId], _clones.Discarded);
        Assert.Equal((OperationStatus.Succeeded, true), (note.Outcome!.Status, note.Outcome.Pushed));
    }

    [Fact]
    public async Task An_error_no_handler_knows_goes_up_to_be_retried_and_fails_nothing()
    {
        _remote.FetchFailure = new InvalidOperationException("a bug");
        var note = Note("not failed here");

        await Assert.ThrowsAsync<InvalidOperationException>(() => RunAsync([note]));

        Assert.Null(note.Outcome);
    }

    private Task RunAsync(IReadOnlyList<PendingOperation> operations, IReadOnlyDictionary<Guid, OperationOutcome>? earlier = null) =>
        _runner.RunAsync(Run(new KnowledgeBaseRecord { Id = KbId, RemoteUrl = "file:///unused", Branch = "main" }, earlier), operations, CancellationToken.None);

    private static KbRun Run(KnowledgeBaseRecord? registered, IReadOnlyDictionary<Guid, OperationOutcome>? earlier = null) =>
        new(KbId, reader: false, Task.FromResult(registered), Task.FromResult(earlier ?? new Dictionary<Guid, OperationOutcome>()));

    private static PendingOperation Note(string text, string? category = null) =>
        new(new KbRequest(Guid.NewGuid(), KbId, "alice", December, new NoteContent(text, Category: category)), December);

    private static PendingOperation Agent(string instruction) =>
        new(new KbRequest(Guid.NewGuid(), KbId, "alice", December, AgentTask: new AgentTaskContent(instruction, Operations: [new FileOperation(FileOps.ListDirectory, "topics")], ReadOnly: true)), December);

    private static string Subject(string message) => message.Split('\n')[0];

    /// <summary>Hands out the test's clones and records what the pipeline discards.</summary>
    private sealed class Clones(Func<InMemoryKbClone> create) : IKbClones
    {
        public int Opened { get; private set; }

        public List<string> Discarded { get; } = [];

        public Action<InMemoryKbClone>? OnOpen { get; set; }

        public IKbClone Open(KbRemote kb, bool reader = false)
        {
            Opened++;
            var clone = create();
            OnOpen?.Invoke(clone);
            return clone;
        }

        public void Discard(string kbId, bool reader = false) => Discarded.Add(kbId);
    }
}

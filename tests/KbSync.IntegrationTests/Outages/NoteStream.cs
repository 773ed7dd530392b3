using KbSync.Contracts;
using KbSync.IntegrationTests.Fixtures;
using KbSync.Persistence.Entities;

namespace KbSync.IntegrationTests.Outages;

/// <summary>
/// A steady stream of notes over many KBs for the broker outage tests: each careful producer publishes
/// its own KBs in turn (every KB belongs to one producer, so each KB's publish order is its confirm
/// order), a pause between notes, none during a <see cref="Burst"/>. It records when each note was first
/// attempted, which is what "notes flow again" is measured from.
/// </summary>
internal sealed class NoteStream(IReadOnlyList<CarefulProducer> producers, IReadOnlyList<string> kbs, TimeSpan pause)
{
    private readonly object _gate = new();
    private readonly List<PublishedNote> _notes = [];
    private readonly CancellationTokenSource _stop = new();
    private List<Task> _loops = [];
    private int _burst;

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _notes.Count;
            }
        }
    }

    public IReadOnlyList<PublishedNote> Notes
    {
        get
        {
            lock (_gate)
            {
                return _notes.ToList();
            }
        }
    }

    /// <summary>Each KB's confirmed notes, in publish order.</summary>
    public Dictionary<string, List<Guid>> PublishedByKb() =>
        kbs.ToDictionary(kb => kb, kb => Notes.Where(n => n.KbId == kb).Select(n => n.Id).ToList());

    public void Start() =>
        _loops = producers.Select((producer, p) => Task.Run(() => PublishAsync(producer, kbs.Where((_, k) => k % producers.Count == p).ToList()))).ToList();

    /// <summary>The next <paramref name="notes"/> notes go out without pauses, so requests wait in the queues.</summary>
    public void Burst(int notes) => Interlocked.Add(ref _burst, notes);

    public async Task WaitUntilPublishedAsync(int count, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (Count < count)
        {
            if (_loops.FirstOrDefault(l => l.IsFaulted) is { } failed)
            {
                await failed; // a producer gave up: its exception says why
            }

            Assert.True(DateTime.UtcNow < deadline, $"Only {Count} of {count} notes confirmed after {timeout}:\n{RetrySummary()}");
            await Task.Delay(50);
        }
    }

    public async Task StopAsync()
    {
        await _stop.CancelAsync();
        await Task.WhenAll(_loops);
    }

    /// <summary>
    /// How long after <paramref name="since"/> notes first attempted after it were final again: the first
    /// of them, and the last KB's first (every KB flowing again). Null when some KB had none.
    /// </summary>
    public (TimeSpan First, TimeSpan EveryKb)? FlowingAgain(DateTimeOffset since, IReadOnlyList<OperationRecord> rows)
    {
        var finished = rows.Where(r => r.FinishedAt is not null).ToDictionary(r => r.Id, r => r.FinishedAt!.Value);
        var firstPerKb = Notes.Where(n => n.FirstAttempt > since && finished.ContainsKey(n.Id))
            .GroupBy(n => n.KbId)
            .Select(kb => kb.Min(n => finished[n.Id]) - since)
            .ToList();
        return firstPerKb.Count < kbs.Count ? null : (firstPerKb.Min(), firstPerKb.Max());
    }

    /// <summary>Per KB: its producer, and how long after <paramref name="since"/> its first note attempted after it was final, and on which worker.</summary>
    public string FlowingAgainPerKb(DateTimeOffset since, IReadOnlyList<OperationRecord> rows)
    {
        var byId = rows.Where(r => r.FinishedAt is not null).ToDictionary(r => r.Id);
        return string.Join("; ", kbs.Select((kb, k) =>
        {
            var first = Notes.Where(n => n.KbId == kb && n.FirstAttempt > since && byId.ContainsKey(n.Id)).Select(n => byId[n.Id]).MinBy(r => r.FinishedAt);
            return $"{kb} ({producers[k % producers.Count].Name}) {(first is null ? "-" : $"{(first.FinishedAt!.Value - since).TotalSeconds:0.0} s on {first.WorkerId}")}";
        }));
    }

    /// <summary>
    /// Every confirmed note succeeded, and each KB's remote holds exactly its confirmed notes, once each, in
    /// publish order: nothing lost, nothing twice. Call when the stream has stopped and its notes are final.
    /// </summary>
    public void AssertLandedOnceInOrder(KbSyncSandbox sandbox, IReadOnlyDictionary<string, GitRemote> remotes, IReadOnlyList<OperationRecord> rows, string label)
    {
        var byKb = PublishedByKb();
        var onRemotes = byKb.Keys.ToDictionary(kb => kb, kb => remotes[kb].Commits().Where(c => c.Trailers is not null).Select(c => c.Trailers!.OperationId).ToList());
        var lost = byKb.Sum(kb => kb.Value.Except(onRemotes[kb.Key]).Count());
        var twice = onRemotes.Values.Sum(ids => ids.Count - ids.Distinct().Count());
        Console.WriteLine($"[{label}] {Count} confirmed notes: {lost} not on their KB's remote, {twice} on it twice");

        Assert.Equal(Count, rows.Count);
        Assert.All(rows, row => Assert.True(row.Status == OperationStatus.Succeeded, $"{row.Id} of {row.KbId}: {row.Status} {row.ErrorCode}: {row.ErrorMessage}"));
        foreach (var (kb, published) in byKb)
        {
            sandbox.AssertPublishOrder(kb, published, remotes[kb], rows);
            Assert.Equal(published.Count, remotes[kb].Files().Count(f => f.StartsWith("topics/", StringComparison.Ordinal)));
        }
    }

    public string RetrySummary()
    {
        var retries = producers.SelectMany(p => p.Retries).ToList();
        var kinds = retries.Select(r => r[(r.IndexOf(": ", StringComparison.Ordinal) + 2)..]).Select(r => r.Length > 160 ? r[..160] : r)
            .GroupBy(r => r).Select(g => $"  {g.Count()} x {g.Key}");
        return $"{retries.Count} attempt(s) without a confirm, published again under the same id; longest wait for a confirm " +
               $"{producers.Max(p => p.LongestWait).TotalSeconds:0.0} s:\n{string.Join('\n', kinds)}";
    }

    private async Task PublishAsync(CarefulProducer producer, List<string> itsKbs)
    {
        for (var n = 0; !_stop.IsCancellationRequested; n++)
        {
            var kb = itsKbs[n % itsKbs.Count];
            var firstAttempt = DateTimeOffset.UtcNow;
            var id = await producer.PublishNoteAsync(kb, producer.Name, new NoteContent($"Note {n / itsKbs.Count} of {kb} from {producer.Name}, {Guid.NewGuid()}."));
            lock (_gate)
            {
                _notes.Add(new PublishedNote(kb, id, firstAttempt, DateTimeOffset.UtcNow));
            }

            if (Interlocked.Decrement(ref _burst) < 0)
            {
                Interlocked.Increment(ref _burst);
                await Task.Delay(pause);
            }
        }
    }
}

internal sealed record PublishedNote(string KbId, Guid Id, DateTimeOffset FirstAttempt, DateTimeOffset ConfirmedAt);

using System.Collections.Concurrent;
using System.Diagnostics;
using KbSync.Contracts;
using KbSync.Producer.Client;

namespace KbSync.IntegrationTests.Fixtures;

/// <summary>
/// Publishes notes as a careful producer must when brokers fail: each note under an operation id of its
/// own choosing, and whenever the broker's confirm does not come (the connection dropped mid-publish, the
/// broker refused it while its queue had no leader, or no answer within <see cref="AttemptTimeout"/>) the
/// same note again, under the same id, until one copy is confirmed. A note may then be queued twice; the
/// workers run an id once. Each note waits for the previous one's confirm, so a KB published by one
/// careful producer is queued in publish order.
/// </summary>
public sealed class CarefulProducer(ProducerHost host, string name) : IAsyncDisposable
{
    public static readonly TimeSpan AttemptTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan GiveUpAfter = TimeSpan.FromMinutes(2);
    private static readonly TimeSpan RetryPause = TimeSpan.FromMilliseconds(250);

    public string Name { get; } = name;

    /// <summary>Every attempt that was not confirmed, with what the client said.</summary>
    public ConcurrentQueue<string> Retries { get; } = new();

    /// <summary>The longest time from a note's first attempt until its confirm.</summary>
    public TimeSpan LongestWait { get; private set; }

    public static async Task<CarefulProducer> StartAsync(IReadOnlyDictionary<string, string> environment, string name) =>
        new(await ProducerHost.StartAsync(environment), name);

    /// <summary>Publishes until the broker confirms; returns the note's operation id.</summary>
    public async Task<Guid> PublishNoteAsync(string kbId, string requestedBy, NoteContent note)
    {
        var id = Guid.NewGuid();
        var waiting = Stopwatch.StartNew();
        for (var attempt = 1; ; attempt++)
        {
            using var timeout = new CancellationTokenSource(AttemptTimeout);
            try
            {
                await host.Client.SubmitNoteAsync(kbId, requestedBy, note, id, timeout.Token);
                LongestWait = waiting.Elapsed > LongestWait ? waiting.Elapsed : LongestWait;
                return id;
            }
            catch (Exception error) when (error is KbSyncPublishException or OperationCanceledException && waiting.Elapsed < GiveUpAfter)
            {
                Retries.Enqueue($"{DateTime.UtcNow:HH:mm:ss.fff} {Name} {kbId} {id} attempt {attempt} after {waiting.Elapsed.TotalSeconds:0.0} s: {error.GetType().Name}: {error.Message}");
                await Task.Delay(RetryPause);
            }
        }
    }

    public ValueTask DisposeAsync() => host.DisposeAsync();
}

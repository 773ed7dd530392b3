namespace KbSync.KbWorker.Messaging.Ordering;

/// <summary>
/// One channel's deliveries put back in the broker's order. RabbitMQ numbers a channel's deliveries
/// 1, 2, 3…; MassTransit hands them over in any order. Holds what arrived ahead of its turn, the turns
/// of deliveries that will never arrive (passed), and those that arrived after their turn was passed
/// over (late: they go first in the next run). Not thread-safe: <see cref="PartitionSequencer"/> uses
/// it under its lock.
/// </summary>
public sealed class DeliveryOrder<T>
    where T : class
{
    private readonly SortedDictionary<ulong, T> _arrived = new();
    private readonly HashSet<ulong> _passed = new();
    private readonly List<T> _late = new();

    /// <summary>The delivery tag whose turn it is.</summary>
    public ulong Next { get; private set; } = 1;

    /// <summary>How many deliveries wait (ahead of their turn, or late).</summary>
    public int Waiting => _arrived.Count + _late.Count;

    /// <summary>The first delivery waiting ahead of its turn, if any: a gap lies before it.</summary>
    public ulong? FirstAhead => _arrived.Count > 0 ? _arrived.Keys.First() : null;

    /// <summary>Puts a delivery at its place; false if that place is taken already. Call <see cref="AddLate"/> for one whose turn has passed.</summary>
    public bool TryAdd(ulong tag, T item) => tag >= Next ? _arrived.TryAdd(tag, item) : throw new ArgumentOutOfRangeException(nameof(tag), tag, $"Turn {tag} has passed (next: {Next}).");

    /// <summary>A delivery that arrived after its turn was passed over: it goes first in the next run.</summary>
    public void AddLate(T item) => _late.Add(item);

    /// <summary>A delivery that will never arrive (or needs no turn) leaves no gap. False if its turn has passed, or it is waiting.</summary>
    public bool Pass(ulong tag) => tag >= Next && !_arrived.ContainsKey(tag) && _passed.Add(tag);

    /// <summary>Goes on past a gap that does not close: the next turn is the first delivery waiting.</summary>
    public void SkipTo(ulong tag) => Next = Math.Max(Next, tag);

    /// <summary>
    /// Takes what is ready, in order: the late deliveries, then each delivery whose turn has come (passed
    /// turns skipped), until one has not arrived or <paramref name="max"/> are taken. A delivery for which
    /// <paramref name="stop"/> holds ends the taking: it is returned as <paramref name="stoppedAt"/>, not in the list.
    /// </summary>
    public List<T> TakeReady(int max, Func<T, bool> stop, out T? stoppedAt)
    {
        var taken = new List<T>(_late);
        _late.Clear();
        stoppedAt = null;
        while (taken.Count < max)
        {
            if (_passed.Remove(Next))
            {
                Next++;
            }
            else if (_arrived.Remove(Next, out var item))
            {
                Next++;
                if (stop(item))
                {
                    stoppedAt = item;
                    break;
                }

                taken.Add(item);
            }
            else
            {
                break;
            }
        }

        return taken;
    }

    /// <summary>Removes and returns every delivery waiting, in order.</summary>
    public List<T> TakeAll()
    {
        var all = _arrived.Values.Concat(_late).ToList();
        _arrived.Clear();
        _late.Clear();
        return all;
    }

    /// <summary>A new channel: delivery tags start at 1 again. Returns what waited from the old one.</summary>
    public List<T> StartOver()
    {
        var waiting = TakeAll();
        _passed.Clear();
        Next = 1;
        return waiting;
    }
}

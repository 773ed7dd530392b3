namespace KbSync.KbWorker.Messaging.Ordering;

/// <summary>
/// One channel's requests, already in delivery order, waiting per KB: a lane per KB, at most one group
/// of a lane running at a time. A lane whose group ended may start its next group while other lanes'
/// groups still run, so a quiet KB never waits for a busy KB's group to end (there is no run-wide
/// barrier). Each lane keeps its requests in delivery order and runs them one group after the other,
/// which is the KB's order. When more lanes are ready than free slots (<c>maxRunning</c>), the lane
/// whose first request was delivered first goes first. Not thread-safe: <see cref="PartitionSequencer"/>
/// uses it under its lock.
/// </summary>
public sealed class KbLanes<T>(int maxGroup, int maxRunning)
    where T : class
{
    private readonly Dictionary<string, Lane> _lanes = new(StringComparer.Ordinal);
    private long _sequence;

    /// <summary>Groups running now.</summary>
    public int Running { get; private set; }

    /// <summary>Requests waiting in the lanes (not running).</summary>
    public int Waiting { get; private set; }

    /// <summary>Adds a request behind its KB's earlier ones.</summary>
    public void Add(string kb, T item)
    {
        if (!_lanes.TryGetValue(kb, out var lane))
        {
            _lanes[kb] = lane = new Lane();
        }

        lane.Items.Enqueue((++_sequence, item));
        Waiting++;
    }

    /// <summary>
    /// Takes the groups that may start now: of every lane with no group running and requests waiting, up
    /// to <c>maxGroup</c> of its first requests, oldest lane first, as long as fewer than <c>maxRunning</c>
    /// groups run. Each is running until <see cref="End"/>.
    /// </summary>
    public List<(string Kb, List<T> Group)> TakeStartable()
    {
        var started = new List<(string, List<T>)>();
        if (Running >= maxRunning)
        {
            return started;
        }

        var ready = _lanes.Where(l => !l.Value.Running && l.Value.Items.Count > 0).OrderBy(l => l.Value.Items.Peek().Sequence).ToList();
        foreach (var (kb, lane) in ready.Take(maxRunning - Running))
        {
            var group = new List<T>(Math.Min(maxGroup, lane.Items.Count));
            while (group.Count < maxGroup && lane.Items.TryDequeue(out var item))
            {
                group.Add(item.Item);
            }

            Waiting -= group.Count;
            lane.Running = true;
            Running++;
            started.Add((kb, group));
        }

        return started;
    }

    /// <summary>The KB's group ended: its lane may start its next group.</summary>
    public void End(string kb)
    {
        if (_lanes.TryGetValue(kb, out var lane) && lane.Running)
        {
            lane.Running = false;
            Running--;
            if (lane.Items.Count == 0)
            {
                _lanes.Remove(kb);
            }
        }
    }

    /// <summary>Removes and returns every waiting request, in delivery order; running groups stay counted until they end.</summary>
    public List<T> TakeAll()
    {
        var all = _lanes.Values.SelectMany(l => l.Items).OrderBy(i => i.Sequence).Select(i => i.Item).ToList();
        foreach (var (kb, lane) in _lanes.ToList())
        {
            lane.Items.Clear();
            if (!lane.Running)
            {
                _lanes.Remove(kb);
            }
        }

        Waiting = 0;
        return all;
    }

    private sealed class Lane
    {
        public Queue<(long Sequence, T Item)> Items { get; } = new();

        public bool Running { get; set; }
    }
}

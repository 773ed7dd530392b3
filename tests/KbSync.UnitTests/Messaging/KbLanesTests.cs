using KbSync.KbWorker.Messaging.Ordering;

namespace KbSync.UnitTests.Messaging;

/// <summary>Per-KB lanes: one group per KB at a time, in the KB's order, no barrier between KBs.</summary>
public sealed class KbLanesTests
{
    private static string[] Flat(List<(string Kb, List<string> Group)> groups) => groups.SelectMany(g => g.Group).ToArray();

    [Fact]
    public void Each_kb_runs_one_group_at_a_time_and_its_next_group_starts_when_it_ends_whatever_other_kbs_do()
    {
        var lanes = new KbLanes<string>(maxGroup: 2, maxRunning: 10);
        foreach (var (kb, item) in new[] { ("hot", "h1"), ("hot", "h2"), ("hot", "h3"), ("quiet", "q1"), ("hot", "h4") })
        {
            lanes.Add(kb, item);
        }

        var first = lanes.TakeStartable();
        Assert.Equal(["hot", "quiet"], first.Select(g => g.Kb));
        Assert.Equal(["h1", "h2", "q1"], Flat(first));
        Assert.Empty(lanes.TakeStartable()); // hot's next group waits for its first
        lanes.Add("quiet", "q2");
        lanes.End("quiet");

        Assert.Equal(["q2"], Flat(lanes.TakeStartable())); // quiet goes on while hot's group still runs
        lanes.End("hot");
        Assert.Equal(["h3", "h4"], Flat(lanes.TakeStartable()));
        Assert.Equal(2, lanes.Running);
        Assert.Equal(0, lanes.Waiting);
    }

    [Fact]
    public void Past_the_most_running_groups_the_lane_whose_first_request_came_first_goes_first()
    {
        var lanes = new KbLanes<string>(maxGroup: 5, maxRunning: 1);
        lanes.Add("a", "a1");
        lanes.Add("b", "b1");
        lanes.Add("c", "c1");
        lanes.Add("a", "a2");

        Assert.Equal(["a1", "a2"], Flat(lanes.TakeStartable()));
        Assert.Empty(lanes.TakeStartable());
        lanes.Add("a", "a3");
        lanes.End("a");

        Assert.Equal(["b1"], Flat(lanes.TakeStartable()));
        lanes.End("b");
        Assert.Equal(["c1"], Flat(lanes.TakeStartable()));
        lanes.End("c");
        Assert.Equal(["a3"], Flat(lanes.TakeStartable()));
    }

    [Fact]
    public void Take_all_returns_what_waits_in_delivery_order_and_running_groups_stay_counted()
    {
        var lanes = new KbLanes<string>(maxGroup: 1, maxRunning: 10);
        lanes.Add("a", "a1");
        lanes.Add("b", "b1");
        lanes.Add("a", "a2");
        lanes.Add("b", "b2");
        lanes.Add("c", "c1");
        Assert.Equal(["a1", "b1", "c1"], Flat(lanes.TakeStartable()));
        lanes.Add("a", "a3");

        Assert.Equal(["a2", "b2", "a3"], lanes.TakeAll());
        Assert.Equal((3, 0), (lanes.Running, lanes.Waiting));
        lanes.End("a");
        Assert.Empty(lanes.TakeStartable());
        Assert.Equal(2, lanes.Running);
    }
}

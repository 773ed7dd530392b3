using KbSync.KbWorker.Messaging.Ordering;

namespace KbSync.UnitTests.Messaging;

/// <summary>Deliveries taken in tag order: passed turns skipped, late ones first, a gap or a stop ends the taking.</summary>
public sealed class DeliveryOrderTests
{
    private static DeliveryOrder<string> With(params (ulong Tag, string Name)[] arrivals)
    {
        var order = new DeliveryOrder<string>();
        foreach (var (tag, name) in arrivals)
        {
            Assert.True(order.TryAdd(tag, name));
        }

        return order;
    }

    [Fact]
    public void What_is_ready_is_taken_in_tag_order_up_to_the_first_gap_skipping_passed_turns()
    {
        var order = With((4, "d"), (1, "a"), (3, "c"), (6, "f"));
        Assert.True(order.Pass(2));

        var taken = order.TakeReady(10, _ => false, out var stoppedAt);

        Assert.Equal(["a", "c", "d"], taken);
        Assert.Null(stoppedAt);
        Assert.Equal(5ul, order.Next);
        Assert.Equal(6ul, order.FirstAhead);
    }

    [Fact]
    public void At_most_max_are_taken_and_late_deliveries_come_first()
    {
        var order = With((1, "a"), (2, "b"), (3, "c"));
        Assert.Equal(["a", "b"], order.TakeReady(2, _ => false, out _));
        order.AddLate("late");

        Assert.Equal(["late", "c"], order.TakeReady(2, _ => false, out _));
    }

    [Fact]
    public void A_stop_ends_the_taking_and_is_returned_apart()
    {
        var order = With((1, "a"), (2, "stop"), (3, "c"));

        var taken = order.TakeReady(10, name => name == "stop", out var stoppedAt);

        Assert.Equal(["a"], taken);
        Assert.Equal("stop", stoppedAt);
        Assert.Equal(["c"], order.TakeAll());
    }

    [Fact]
    public void A_place_is_taken_once_and_a_passed_or_waiting_turn_is_not_passed_again()
    {
        var order = With((2, "b"));

        Assert.False(order.TryAdd(2, "again"));
        Assert.False(order.Pass(2));
        Assert.True(order.Pass(1));
        Assert.False(order.Pass(1));
    }

    [Fact]
    public void A_gap_skipped_goes_on_with_the_first_waiting_and_starting_over_begins_at_1()
    {
        var order = With((5, "e"));
        order.SkipTo(order.FirstAhead!.Value);
        Assert.Equal(["e"], order.TakeReady(10, _ => false, out _));

        Assert.True(order.TryAdd(9, "i"));
        Assert.Equal(["i"], order.StartOver());
        Assert.Equal(1ul, order.Next);
        Assert.Equal(0, order.Waiting);
    }
}

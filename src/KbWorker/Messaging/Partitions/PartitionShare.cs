namespace KbSync.KbWorker.Messaging.Partitions;

/// <summary>How many of the partitions one worker owns: P / N each, and one more for the first P mod N workers in rank order, so the shares add up to P exactly.</summary>
public static class PartitionShare
{
    public static int Of(int partitions, int workers, int rank)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(workers, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(rank);
        return partitions / workers + (rank < partitions % workers ? 1 : 0);
    }
}

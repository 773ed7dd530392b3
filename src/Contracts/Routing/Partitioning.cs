using System.Text;

namespace KbSync.Contracts;

/// <summary>
/// Maps a KB id to one of P partition queues: FNV-1a (32-bit) over the id's UTF-8 bytes, modulo P.
/// Stable across processes, machines and languages (never <c>string.GetHashCode</c>, which .NET
/// randomises per process). docs/wire-format.md gives test vectors for other languages.
/// </summary>
public static class Partitioning
{
    private const uint FnvOffsetBasis = 2166136261;
    private const uint FnvPrime = 16777619;

    public static uint Fnv1a(string value)
    {
        var hash = FnvOffsetBasis;
        foreach (var b in Encoding.UTF8.GetBytes(value))
        {
            hash ^= b;
            hash *= FnvPrime;
        }

        return hash;
    }

    public static int PartitionOf(string kbId, int partitionCount)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(partitionCount, 1);
        return (int)(Fnv1a(kbId) % (uint)partitionCount);
    }
}

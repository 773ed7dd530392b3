using KbSync.Persistence.Analytics.Rollups;

namespace KbSync.UnitTests.Analytics;

/// <summary>How a range is cut into whole rollup buckets and raw ends.</summary>
public sealed class RollupCoverTests
{
    private static readonly DateTimeOffset Day0 = new(2030, 3, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public void A_range_is_covered_without_gap_or_overlap_by_the_coarsest_aligned_buckets()
    {
        var from = Day0.AddHours(22).AddMinutes(17).AddSeconds(12.5);
        var to = Day0.AddDays(3).AddHours(2).AddMinutes(5).AddSeconds(1);

        var pieces = RollupCover.Of(from, to);

        Assert.Equal(
            new[]
            {
                new RollupPiece(0, from, Day0.AddHours(22).AddMinutes(18)),
                new RollupPiece(RollupGrains.Minute, Day0.AddHours(22).AddMinutes(18), Day0.AddHours(23)),
                new RollupPiece(RollupGrains.Hour, Day0.AddHours(23), Day0.AddDays(1)),
                new RollupPiece(RollupGrains.Day, Day0.AddDays(1), Day0.AddDays(3)),
                new RollupPiece(RollupGrains.Hour, Day0.AddDays(3), Day0.AddDays(3).AddHours(2)),
                new RollupPiece(RollupGrains.Minute, Day0.AddDays(3).AddHours(2), Day0.AddDays(3).AddHours(2).AddMinutes(5)),
                new RollupPiece(0, Day0.AddDays(3).AddHours(2).AddMinutes(5), to),
            },
            pieces);
    }

    [Fact]
    public void Without_minutes_the_raw_ends_are_up_to_an_hour()
    {
        var from = Day0.AddMinutes(30);
        var to = Day0.AddHours(5).AddMinutes(10);

        var pieces = RollupCover.Of(from, to, [RollupGrains.Day, RollupGrains.Hour]);

        Assert.Equal(
            new[]
            {
                new RollupPiece(0, from, Day0.AddHours(1)),
                new RollupPiece(RollupGrains.Hour, Day0.AddHours(1), Day0.AddHours(5)),
                new RollupPiece(0, Day0.AddHours(5), to),
            },
            pieces);
    }

    [Fact]
    public void A_range_inside_one_bucket_is_raw()
    {
        var from = Day0.AddSeconds(10);
        Assert.Equal(new[] { new RollupPiece(0, from, from.AddSeconds(30)) }, RollupCover.Of(from, from.AddSeconds(30)));
        Assert.Empty(RollupCover.Of(from, from));
    }

    [Fact]
    public void Buckets_are_aligned_to_the_epoch_in_UTC_whatever_the_offset()
    {
        var at = new DateTimeOffset(2030, 3, 1, 1, 30, 0, TimeSpan.FromHours(2)); // 2030-02-28 23:30 UTC

        Assert.Equal(new DateTimeOffset(2030, 2, 28, 0, 0, 0, TimeSpan.Zero), RollupGrains.Floor(at, RollupGrains.Day));
        Assert.Equal(new DateTimeOffset(2030, 3, 1, 0, 0, 0, TimeSpan.Zero), RollupGrains.Ceiling(at, RollupGrains.Day));
        Assert.True(RollupGrains.IsAligned(Day0.AddHours(3), RollupGrains.Hour));
    }
}

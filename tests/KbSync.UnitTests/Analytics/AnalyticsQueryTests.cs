using KbSync.Persistence.Analytics;

namespace KbSync.UnitTests.Analytics;

/// <summary>The bucket the analytics (and so the API, the CLI and the dashboard) use when none is asked for.</summary>
public sealed class AnalyticsQueryTests
{
    private static readonly DateTimeOffset T0 = new(2030, 3, 1, 0, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData(1, 1, 60)]              // 5 minutes would make 12
    [InlineData(6, 5, 72)]              // 15 minutes would make 24
    [InlineData(24, 30, 48)]
    [InlineData(24 * 7, 180, 56)]       // 6 hours would make 28
    [InlineData(24 * 30, 720, 60)]      // a day would make 30
    [InlineData(24 * 400, 1440, 400)]   // a day is the largest bucket
    public void Without_a_bucket_the_round_size_giving_the_number_of_buckets_nearest_48_is_used(int hours, int minutes, int buckets)
    {
        var query = new AnalyticsQuery(null, T0, T0.AddHours(hours));

        Assert.Equal((TimeSpan.FromMinutes(minutes), buckets), (query.ResolveBucket(), query.BucketCount()));
    }
}

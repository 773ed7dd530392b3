using KbSync.Producer.Api;

namespace KbSync.UnitTests.Api;

public sealed class StatsRequestTests
{
    private static readonly DateTimeOffset Now = new(2030, 3, 1, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Without_times_or_a_bucket_the_last_24_hours_are_cut_as_the_analytics_choose()
    {
        var query = StatsRequest.Parse("team-notes", since: null, until: null, bucket: null, Now);

        Assert.Equal((Now.AddHours(-24), Now, null), (query.Since, query.Until, query.Bucket));
        Assert.Equal(TimeSpan.FromMinutes(30), query.ResolveBucket());
    }

    [Theory]
    [InlineData("90s", 90)]
    [InlineData("5m", 300)]
    [InlineData("2h", 7200)]
    [InlineData("1d", 86400)]
    [InlineData("00:15:00", 900)]
    public void A_bucket_is_a_short_duration_or_a_timespan(string bucket, int seconds)
    {
        var query = StatsRequest.Parse(null, "2030-03-01T00:00:00Z", "2030-03-01T12:00:00Z", bucket, Now);

        Assert.Equal(TimeSpan.FromSeconds(seconds), query.Bucket);
    }

    [Theory]
    [InlineData("2030-03-01T10:00:00+02:00", "2030-03-01T08:00:00Z")]
    [InlineData("2030-03-01T08:00:00", "2030-03-01T08:00:00Z")]
    public void Times_without_an_offset_are_utc(string since, string expected)
    {
        var query = StatsRequest.Parse(null, since, "2030-03-01T12:00:00Z", null, Now);

        Assert.Equal(DateTimeOffset.Parse(expected, System.Globalization.CultureInfo.InvariantCulture), query.Since);
    }

    [Theory]
    [InlineData("soon", null, null, "since 'soon' is not a time")]
    [InlineData(null, null, "5 minutes", "bucket '5 minutes' is not a duration")]
    [InlineData("2030-03-02T00:00:00Z", "2030-03-01T00:00:00Z", null, "must be before until")]
    public void Bad_input_is_refused_with_what_is_wrong(string? since, string? until, string? bucket, string message)
    {
        var refused = Assert.ThrowsAny<ArgumentException>(() => StatsRequest.Parse(null, since, until, bucket, Now));

        Assert.Contains(message, refused.Message);
    }
}

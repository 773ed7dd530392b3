using KbSync.Producer.Api;

namespace KbSync.UnitTests.Api;

public sealed class MetricsListenerTests
{
    [Fact]
    public void By_default_metrics_listen_on_loopback_on_a_port_of_their_own()
    {
        var listener = MetricsListener.Parse(MetricsListener.DefaultUrls, "http://0.0.0.0:5080");

        Assert.Equal([9464], listener.Addresses.Select(a => a.Port));
        Assert.Empty(listener.NotLoopback());
    }

    [Theory]
    [InlineData("http://127.0.0.1:5080", "http://127.0.0.1:5080", "uses a port the API listens on")]
    [InlineData("http://127.0.0.1:9000", "http://localhost:5080;http://[::]:9000", "uses a port the API listens on")]
    [InlineData("http://127.0.0.1:0", "http://127.0.0.1:5080", "needs a fixed port")]
    [InlineData("not a url", "http://127.0.0.1:5080", "--metrics-urls: 'not a url' is not an address")]
    [InlineData("", "http://127.0.0.1:5080", "--metrics-urls names no address")]
    public void A_metrics_address_sharing_the_apis_port_or_without_a_port_is_refused(string metricsUrls, string apiUrls, string expected) =>
        Assert.Contains(expected, Assert.Throws<ArgumentException>(() => MetricsListener.Parse(metricsUrls, apiUrls)).Message);

    [Fact]
    public void An_address_others_can_reach_is_named_so_that_start_up_warns_about_it()
    {
        var listener = MetricsListener.Parse("http://localhost:9464;http://[::1]:9465;http://10.0.0.5:9466;http://*:9467", "http://127.0.0.1:5080");

        Assert.Equal([9466, 9467], listener.NotLoopback().Select(a => a.Port));
    }
}

using KbSync.Contracts;
using KbSync.Producer.Client;
using Microsoft.Extensions.Options;
using RabbitMQ.Client;

namespace KbSync.UnitTests.Client;

public sealed class RequestChannelTests
{
    [Fact]
    public async Task A_publish_after_the_channel_is_disposed_fails_at_once_instead_of_waiting_for_a_broker()
    {
        // port 1 on loopback: nothing answers, so a live channel would wait and retry until its token ends
        var channel = new RequestChannel(Options.Create(new RabbitMqOptions { Host = "127.0.0.1", Port = 1 }));
        await channel.DisposeAsync();
        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(30));

        await Assert.ThrowsAsync<ObjectDisposedException>(() =>
            channel.PublishAsync("0", new BasicProperties(), new byte[] { 1 }, patience.Token));
    }
}

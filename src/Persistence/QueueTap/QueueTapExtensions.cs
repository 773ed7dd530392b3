using KbSync.Contracts;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace KbSync.Persistence.QueueTap;

public static class QueueTapExtensions
{
    /// <summary>
    /// Runs a <see cref="QueueTapReader"/> in this process (workers and the API): requests are recorded
    /// as queued, with their place in the broker's order, as long as any of them runs. Needs
    /// <c>AddKbSyncPersistence</c>.
    /// </summary>
    public static IHostApplicationBuilder AddQueueTap(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<RabbitMqOptions>().BindConfiguration(RabbitMqOptions.Section);
        builder.Services.AddHostedService<QueueTapReader>();
        return builder;
    }
}

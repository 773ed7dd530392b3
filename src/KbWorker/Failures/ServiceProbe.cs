using KbSync.Persistence;
using MassTransit;
using Microsoft.EntityFrameworkCore;

namespace KbSync.KbWorker.Failures;

/// <summary>
/// Asks the services a run depends on whether they answer, after a run failed for a reason the worker
/// cannot place: a service that does not answer pauses the partition (the request is not to blame);
/// when every service answers, the failure counts against the request (<see cref="Backstop"/>).
/// </summary>
public sealed class ServiceProbe(IDbContextFactory<KbSyncDbContext> contexts, IServiceProvider services) : IServiceProbe
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

    /// <summary>The first service that does not answer, and why; null when they all do.</summary>
    public async Task<ServiceDown?> FindDownAsync(CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Timeout);
        try
        {
            await using var db = await contexts.CreateDbContextAsync(timeout.Token);
            await db.Database.ExecuteSqlRawAsync("SELECT 1", timeout.Token);
        }
        catch (Exception error) when (!cancellationToken.IsCancellationRequested)
        {
            return new ServiceDown("PostgreSQL", FailureText.Short(error));
        }

        // Resolved here, not in the constructor: the bus's own configuration creates the services that use this probe.
        var health = services.GetRequiredService<IBusControl>().CheckHealth();
        return health.Status == BusHealthStatus.Healthy ? null : new ServiceDown("RabbitMQ", health.Description);
    }
}

public interface IServiceProbe
{
    /// <summary>The first service that does not answer, and why; null when they all do.</summary>
    Task<ServiceDown?> FindDownAsync(CancellationToken cancellationToken);
}

/// <summary>A service that did not answer the <see cref="ServiceProbe"/>, and what it said.</summary>
public sealed record ServiceDown(string Service, string Why)
{
    public override string ToString() => $"{Service} is not answering ({Why})";
}

namespace KbSync.Producer.Client;

/// <summary>
/// A publish that a person waits for. <see cref="KbSyncClient"/> waits for a broker node as long as its
/// caller's token lets it (retrying every second while none answers); the CLI and the API give up after
/// a limit and say so, rather than hanging for as long as RabbitMQ is away.
/// </summary>
public static class PublishDeadline
{
    /// <summary>Runs <paramref name="publish"/>; a <see cref="TimeoutException"/> if no broker node took the request within <paramref name="limit"/>.</summary>
    public static async Task<T> RunAsync<T>(TimeSpan limit, Func<CancellationToken, Task<T>> publish, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(limit);
        try
        {
            return await publish(deadline.Token);
        }
        catch (OperationCanceledException error) when (!cancellationToken.IsCancellationRequested)
        {
            // the confirm may have been on its way: the request may be queued, and publishing it again with the same id is safe
            throw new TimeoutException(
                $"RabbitMQ did not confirm the request within {limit.TotalSeconds:0} s: no broker node answered. It may not be queued; " +
                "publish it again with the same operation id once RabbitMQ answers (check RabbitMq__Host/Port, or RabbitMq__Hosts__<n>).", error);
        }
    }
}

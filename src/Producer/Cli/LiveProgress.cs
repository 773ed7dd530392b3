using KbSync.Contracts;
using KbSync.Persistence.History;
using KbSync.Producer.Client;
using Microsoft.Extensions.Options;

namespace KbSync.Producer.Cli;

/// <summary>
/// <c>--wait</c>: waits for the result event and, meanwhile, shows on standard error where the
/// request is ("#3 in queue for team-notes", then the step it runs), from the history. The result
/// comes from the broker alone: where the history database does not answer (a producer's machine,
/// without its credentials), one line says there is no progress to show and the wait goes on.
/// </summary>
internal static class LiveProgress
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(500);

    public static async Task<int> WaitAsync(CliHost host, ResultWatch watch, Guid operationId, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var partitions = host.Services.GetRequiredService<IOptions<RabbitMqOptions>>().Value.Partitions;
        var result = watch.ResultAsync(timeout, cancellationToken);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var progress = ShowProgressAsync(host.Services.GetRequiredService<OperationHistory>(), partitions, operationId, result, stop.Token);
        await Task.WhenAny(result); // a query of the history never holds the result back
        await stop.CancelAsync();
        await progress;
        return Output.PrintResult(await result);
    }

    /// <summary>
    /// Polls the history until the result comes. Gives up, saying so once, when the database cannot be
    /// reached: <see cref="Npgsql.NpgsqlException"/>, which EF Core's execution strategy wraps in an
    /// <see cref="InvalidOperationException"/> ("likely due to a transient failure"), or a malformed
    /// <c>ConnectionStrings__KbSync</c> (<see cref="ArgumentException"/>).
    /// </summary>
    private static async Task ShowProgressAsync(OperationHistory history, int partitions, Guid operationId, Task result, CancellationToken stop)
    {
        string? shown = null;
        try
        {
            while (!result.IsCompleted)
            {
                if (await history.GetAsync(operationId, stop) is { } operation && !operation.Status.IsFinal())
                {
                    var line = Output.Progress(operation, await history.QueuePositionAsync(operation, partitions, stop));
                    if (line != shown)
                    {
                        await Console.Error.WriteLineAsync(line);
                        shown = line;
                    }
                }

                await Task.WhenAny(result, Task.Delay(PollInterval, stop));
            }
        }
        catch (Exception) when (stop.IsCancellationRequested)
        {
            // the result came (or the user gave up) while a query ran: what it found no longer matters
        }
        catch (Exception error) when (error is Npgsql.NpgsqlException or ArgumentException || error.InnerException is Npgsql.NpgsqlException)
        {
            await Console.Error.WriteLineAsync($"(no progress to show: the history database did not answer ({(error.InnerException as Npgsql.NpgsqlException ?? error).Message}); waiting for the result from the broker)");
        }
    }
}

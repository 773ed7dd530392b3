using KbSync.Contracts;
using KbSync.Persistence.History;
using KbSync.Producer.Client;
using Microsoft.Extensions.Options;

namespace KbSync.Producer.Cli;

/// <summary>
/// <c>--wait</c>: waits for the result event and, meanwhile, shows on standard error where the
/// request is ("#3 in queue for team-notes", then the step it runs), from the history.
/// </summary>
internal static class LiveProgress
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(500);

    public static async Task<int> WaitAsync(CliHost host, ResultWatch watch, Guid operationId, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var history = host.Services.GetRequiredService<OperationHistory>();
        var partitions = host.Services.GetRequiredService<IOptions<RabbitMqOptions>>().Value.Partitions;
        var result = watch.ResultAsync(timeout, cancellationToken);
        string? shown = null;
        while (!result.IsCompleted)
        {
            if (await history.GetAsync(operationId, cancellationToken) is { } operation && !operation.Status.IsFinal())
            {
                var line = Output.Progress(operation, await history.QueuePositionAsync(operation, partitions, cancellationToken));
                if (line != shown)
                {
                    await Console.Error.WriteLineAsync(line);
                    shown = line;
                }
            }

            await Task.WhenAny(result, Task.Delay(PollInterval, cancellationToken));
        }

        return Output.PrintResult(await result);
    }
}

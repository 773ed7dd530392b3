using KbSync.Contracts;
using MassTransit;

namespace KbSync.Producer.Client;

/// <summary>
/// Listens on a temporary queue bound to the result exchanges until the result of one operation
/// arrives. Dispose it to delete the queue.
/// </summary>
public sealed class ResultWatch : IAsyncDisposable
{
    private readonly TaskCompletionSource<OperationResult> _result = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private HostReceiveEndpointHandle? _handle;

    private ResultWatch()
    {
    }

    internal static async Task<ResultWatch> StartAsync(IBus bus, Guid operationId, CancellationToken cancellationToken)
    {
        var watch = new ResultWatch();
        watch._handle = bus.ConnectReceiveEndpoint(new TemporaryEndpointDefinition(), KebabCaseEndpointNameFormatter.Instance, endpoint =>
        {
            endpoint.Handler<OperationCompleted>(context =>
            {
                if (context.Message.OperationId == operationId)
                {
                    watch._result.TrySetResult(OperationResult.From(context.Message));
                }

                return Task.CompletedTask;
            });
            endpoint.Handler<OperationFailed>(context =>
            {
                if (context.Message.OperationId == operationId)
                {
                    watch._result.TrySetResult(OperationResult.From(context.Message));
                }

                return Task.CompletedTask;
            });
        });
        await watch._handle.Ready.WaitAsync(cancellationToken);
        return watch;
    }

    /// <summary>The result, or a <see cref="TimeoutException"/> after <paramref name="timeout"/>.</summary>
    public async Task<OperationResult> ResultAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        try
        {
            return await _result.Task.WaitAsync(timeout, cancellationToken);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"No result after {timeout.TotalSeconds:0.#} s. The request stays queued: check it later with 'kbsync status <operation-id>'.");
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_handle is not null)
        {
            await _handle.StopAsync();
        }
    }
}

/// <summary>A result event, whichever it was.</summary>
public sealed record OperationResult(Guid OperationId, OperationStatus Status, string? CommitSha, string? NotePath, string? ReasonCode, string? Message, AgentResult? Agent = null)
{
    public bool Succeeded => Status is OperationStatus.Succeeded or OperationStatus.Duplicate;

    public static OperationResult From(OperationCompleted completed) =>
        new(completed.OperationId, completed.Status, completed.CommitSha, completed.NotePath, null, null, completed.Agent);

    public static OperationResult From(OperationFailed failed) =>
        new(failed.OperationId, failed.Status, null, null, failed.ReasonCode, failed.Message);
}

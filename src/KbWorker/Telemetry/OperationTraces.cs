using System.Collections.Concurrent;
using System.Diagnostics;
using KbSync.Contracts;
using MassTransit;

namespace KbSync.KbWorker.Telemetry;

/// <summary>
/// Which trace each request belongs to. MassTransit's receive span continues the producer's trace
/// (from the message's <c>MT-Activity-Id</c> header), but a request then waits for its partition's
/// run, which runs many requests together, off the consumer's call: so as each request is consumed
/// its span's context is kept here, by operation id, and the run's step spans are started under it
/// (<see cref="WorkerTracing"/>). Only partition queues count (the queued tap sees every request too).
/// Forgotten when the consumer returns, which is after the outcome is recorded and published.
/// </summary>
public sealed class OperationTraces : IConsumeObserver
{
    private readonly ConcurrentDictionary<Guid, ActivityContext> _contexts = new();

    /// <summary>The trace of <paramref name="operationId"/>'s consumer; default (a new trace) when none is known.</summary>
    public ActivityContext ContextOf(Guid operationId) => _contexts.TryGetValue(operationId, out var context) ? context : default;

    public Task PreConsume<T>(ConsumeContext<T> context) where T : class
    {
        if (context.Message is KbRequest request && Activity.Current is { } consuming && IsPartition(context))
        {
            _contexts[request.OperationId] = consuming.Context;
        }

        return Task.CompletedTask;
    }

    public Task PostConsume<T>(ConsumeContext<T> context) where T : class => Forget(context);

    public Task ConsumeFault<T>(ConsumeContext<T> context, Exception exception) where T : class => Forget(context);

    private Task Forget<T>(ConsumeContext<T> context) where T : class
    {
        if (context.Message is KbRequest request && IsPartition(context))
        {
            _contexts.TryRemove(request.OperationId, out _);
        }

        return Task.CompletedTask;
    }

    private static bool IsPartition(ConsumeContext context) =>
        context.ReceiveContext.InputAddress is { } address && Topology.TryParsePartitionQueue(address.AbsolutePath, out _);
}

using System.Diagnostics;
using KbSync.Contracts;
using KbSync.KbWorker.Pipeline;

namespace KbSync.KbWorker.Telemetry;

/// <summary>
/// The worker's spans (ActivitySource <c>KbSync.Worker</c>): one per step of each operation (lock,
/// pull, process, commit, push, record), in that operation's own trace, which MassTransit carries from
/// the producer's publish to the worker's receive (<see cref="OperationTraces"/>). A group of notes
/// shares its lock, fetch and push; each of its operations still gets the step as a span of its own, so
/// every trace tells its operation's whole story.
/// </summary>
public static class WorkerTracing
{
    public const string SourceName = "KbSync.Worker";

    public static readonly ActivitySource Source = new(SourceName);

    /// <summary>One span named <c>kbsync.<paramref name="step"/></c> per operation, each under its operation's receive span.</summary>
    public static StepSpans Start(OperationTraces traces, string step, IEnumerable<PendingOperation> operations)
    {
        if (!Source.HasListeners())
        {
            return StepSpans.None;
        }

        var previous = Activity.Current;
        var spans = new List<(PendingOperation, Activity)>();
        foreach (var operation in operations)
        {
            if (Source.StartActivity($"kbsync.{step}", ActivityKind.Internal, traces.ContextOf(operation.Id)) is { } span)
            {
                span.SetTag("kbsync.operation.id", operation.Id.ToString());
                span.SetTag("kbsync.kb", operation.Request.KbId);
                span.SetTag("kbsync.kind", operation.Request.Kind.ToWireName());
                spans.Add((operation, span));
            }
        }

        Activity.Current = previous; // the spans are the operations', not the caller's: nothing else nests in them unless asked (StepSpans.Enter)
        return new StepSpans(spans);
    }
}

/// <summary>The spans of one step, one per operation; disposing ends them all.</summary>
public sealed class StepSpans(IReadOnlyList<(PendingOperation Operation, Activity Span)> spans) : IDisposable
{
    public static StepSpans None { get; } = new([]);

    /// <summary>Sets a tag on every operation's span of this step.</summary>
    public StepSpans Tag(string name, object? value)
    {
        foreach (var (_, span) in spans)
        {
            span.SetTag(name, value);
        }

        return this;
    }

    /// <summary>
    /// Makes <paramref name="operation"/>'s span the current activity for the rest of the calling async
    /// method, so what happens there for that operation nests in it (the commit, the result's publish).
    /// </summary>
    public void Enter(PendingOperation operation)
    {
        foreach (var (owner, span) in spans)
        {
            if (owner == operation)
            {
                Activity.Current = span;
            }
        }
    }

    /// <summary>Records each operation's outcome on its span: its status and reason, and an error status for a failure.</summary>
    public void Outcomes()
    {
        foreach (var (operation, span) in spans)
        {
            if (operation.Outcome is { } outcome)
            {
                span.SetTag("kbsync.status", outcome.Status.ToWireName());
                if (outcome.ErrorCode is { } reason)
                {
                    span.SetTag("kbsync.reason", reason);
                    span.SetStatus(ActivityStatusCode.Error, reason);
                }
            }
        }
    }

    public void Dispose()
    {
        var previous = Activity.Current;
        foreach (var (_, span) in spans)
        {
            span.Dispose();
        }

        Activity.Current = previous == null || spans.Any(s => s.Span == previous) ? null : previous;
    }
}

using KbSync.Contracts;
using KbSync.Persistence.Entities;

namespace KbSync.IntegrationTests.Fixtures;

/// <summary>History rows with known timings, written straight into a test database (as a worker would have).</summary>
public static class HistoryRows
{
    /// <summary>
    /// A finished operation: requested at <paramref name="requested"/>, taken after
    /// <paramref name="queueWaitMs"/>, locked after <paramref name="lockWaitMs"/>, done 500 ms later.
    /// </summary>
    public static OperationRecord Finished(string kbId, string requestedBy, OperationStatus status, DateTimeOffset requested, double queueWaitMs, double lockWaitMs, string? error = null)
    {
        var started = requested.AddMilliseconds(queueWaitMs);
        return new OperationRecord
        {
            Id = Guid.NewGuid(),
            KbId = kbId,
            Kind = OperationKind.Note,
            RequestedBy = requestedBy,
            Status = status,
            RequestedAt = requested,
            StartedAt = started,
            FinishedAt = started.AddMilliseconds(lockWaitMs + 500),
            QueueWaitMs = queueWaitMs,
            LockWaitMs = lockWaitMs,
            PullMs = 200,
            ProcessMs = 100,
            CommitMs = status == OperationStatus.Succeeded ? 100 : 0,
            PushMs = status == OperationStatus.Succeeded ? 100 : 0,
            ErrorCode = error is null ? null : ReasonCodes.InternalError,
            ErrorMessage = error,
            WorkerId = "w-seed",
            Attempts = 1,
        };
    }

    public static async Task SaveAsync(TestDatabase database, IEnumerable<OperationRecord> rows)
    {
        await using var db = database.CreateContext();
        db.Operations.AddRange(rows);
        await db.SaveChangesAsync();
    }
}

using KbSync.Contracts;
using KbSync.Persistence.Entities;
using Npgsql;

namespace KbSync.IntegrationTests.Fixtures;

/// <summary>History rows with known timings, written straight into a test database (as a worker would have).</summary>
public static class HistoryRows
{
    /// <summary>
    /// An operation requested at <paramref name="requested"/>, in <paramref name="status"/>, with the
    /// worker and attempts that status implies and no other times yet: what the other builders fill in.
    /// </summary>
    public static OperationRecord New(string kbId, string requestedBy, OperationStatus status, DateTimeOffset requested) => new()
    {
        Id = Guid.NewGuid(),
        KbId = kbId,
        Kind = OperationKind.Note,
        RequestedBy = requestedBy,
        Status = status,
        RequestedAt = requested,
        WorkerId = status == OperationStatus.Queued ? null : "w-seed",
        Attempts = status == OperationStatus.Queued ? 0 : 1,
    };

    /// <summary>
    /// A finished operation: requested at <paramref name="requested"/>, taken after
    /// <paramref name="queueWaitMs"/>, locked after <paramref name="lockWaitMs"/>, done 500 ms later.
    /// </summary>
    public static OperationRecord Finished(string kbId, string requestedBy, OperationStatus status, DateTimeOffset requested, double queueWaitMs = 10, double lockWaitMs = 1, string? error = null)
    {
        var row = New(kbId, requestedBy, status, requested);
        row.StartedAt = requested.AddMilliseconds(queueWaitMs);
        row.FinishedAt = row.StartedAt.Value.AddMilliseconds(lockWaitMs + 500);
        row.QueueWaitMs = queueWaitMs;
        row.LockWaitMs = lockWaitMs;
        row.PullMs = 200;
        row.ProcessMs = 100;
        row.CommitMs = row.PushMs = status == OperationStatus.Succeeded ? 100 : 0;
        row.ErrorCode = error is null ? null : ReasonCodes.InternalError;
        row.ErrorMessage = error;
        return row;
    }

    /// <summary>An operation not finished yet: queued, or running since a worker took it 10 ms after <paramref name="requested"/>.</summary>
    public static OperationRecord Open(string kbId, string requestedBy, OperationStatus status, DateTimeOffset requested)
    {
        if (status is not (OperationStatus.Queued or OperationStatus.Running))
        {
            throw new ArgumentOutOfRangeException(nameof(status), status, "An open operation is queued or running.");
        }

        var row = New(kbId, requestedBy, status, requested);
        if (status == OperationStatus.Running)
        {
            row.StartedAt = requested.AddMilliseconds(10);
            row.QueueWaitMs = 10;
        }

        return row;
    }

    /// <summary>
    /// PostgreSQL's percentile_cont over a history column, the reference the analytics are checked
    /// against (<see cref="Percentile"/>): rows without a value are left out; null when none has one.
    /// </summary>
    public static double? PercentileCont(IEnumerable<double?> values, double p)
    {
        var sorted = values.OfType<double>().Order().ToArray();
        return sorted.Length == 0 ? null : Percentile.OfSorted(sorted, p);
    }

    public static async Task SaveAsync(TestDatabase database, IEnumerable<OperationRecord> rows)
    {
        await using var db = database.CreateContext();
        db.Operations.AddRange(rows);
        await db.SaveChangesAsync();
    }

    /// <summary>
    /// Waits until a running rollup builder (a worker's or the API's) holds every finished row written so
    /// far: rows written into minutes it has already sealed are logged and applied by its next round, and
    /// statistics show them only then (README: "Changes logged but not yet applied show in the next few seconds").
    /// </summary>
    public static async Task WaitForRollupsAsync(TestDatabase database, TimeSpan? timeout = null)
    {
        var deadline = DateTimeOffset.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        await using var connection = new NpgsqlConnection(database.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("""
            SELECT NOT EXISTS (SELECT 1 FROM rollup_changes)
               AND (SELECT sealed_until FROM rollup_state) > coalesce((SELECT max(finished_at) FROM operations WHERE status IN ('succeeded', 'duplicate', 'failed', 'timed_out')), '-infinity')
            """, connection);
        while (!(bool)(await command.ExecuteScalarAsync())!)
        {
            if (DateTimeOffset.UtcNow > deadline)
            {
                throw new TimeoutException("The rollup builder did not take in the history written within the timeout.");
            }

            await Task.Delay(200);
        }
    }
}

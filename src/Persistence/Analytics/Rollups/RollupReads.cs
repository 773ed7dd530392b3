using KbSync.Contracts;
using Npgsql;
using NpgsqlTypes;

namespace KbSync.Persistence.Analytics.Rollups;

/// <summary>
/// A histogram as PostgreSQL keeps it (an <c>int[]</c> whose subscripts are the bins), read in the
/// array's binary form (<c>array_send</c>) and walked in place (<see cref="LogHistogram.MergeSent"/>),
/// not read as an <c>int?[]</c>: a minute's histogram holds a few counts among hundreds of empty bins,
/// and the per-bucket figures read thousands of them.
/// </summary>
internal readonly record struct StoredHistogram(byte[]? Sent)
{
    public bool IsEmpty => Sent is null;

    public void AddTo(LogHistogram histogram, int sign = 1)
    {
        if (Sent is { } bytes)
        {
            histogram.MergeSent(bytes, sign);
        }
    }
}

/// <summary>One bucket of <c>operation_rollups</c> (summed over the KBs asked), as the statements below read it.</summary>
internal sealed class RollupRow
{
    /// <summary>Which piece of the query it was read for (the bucket of the answer, in per-bucket reads).</summary>
    public int Tag { get; init; }
    public int Grain { get; init; }
    public DateTimeOffset Start { get; init; }
    public long Requested { get; init; }
    public long Arrivals { get; init; }
    public long Exits { get; init; }
    public long FinishedSucceeded { get; init; }
    public long FinishedDuplicate { get; init; }
    public long FinishedFailed { get; init; }
    public long FinishedTimedOut { get; init; }
    public StoredHistogram QueueWait { get; init; }
    public StoredHistogram LockWait { get; init; }

    /// <summary>How far the queue rises inside the bucket over its depth just before it: exact for one KB's row (or the row of every KB); summed over several KBs, a bound.</summary>
    public long PeakBound { get; init; }

    /// <summary>Whether <see cref="PeakBound"/> is one row's exact rise, not a sum over several KBs.</summary>
    public bool PeakIsExact { get; init; }

    // hour and day rows, read by ReadCoarseAsync only
    public long Succeeded { get; init; }
    public long Duplicate { get; init; }
    public long Failed { get; init; }
    public long TimedOut { get; init; }
    public long AgentTasks { get; init; }
    public double ArrivalOffsetMs { get; init; }
    public double ExitOffsetMs { get; init; }
    public double QueueWaitSumMs { get; init; }
    public double LockWaitSumMs { get; init; }
    public double PullSumMs { get; init; }
    public double ProcessSumMs { get; init; }
    public double CommitSumMs { get; init; }
    public double PushSumMs { get; init; }
    public StoredHistogram Pull { get; init; }
    public StoredHistogram Process { get; init; }
    public StoredHistogram Commit { get; init; }
    public StoredHistogram Push { get; init; }
}


/// <summary>
/// The statements the rollup statistics run, each reading a handful of rows per piece. A piece list
/// is passed as parallel arrays (one parameter each, whatever their number) and each piece is looked
/// up in the primary key by a LATERAL subquery, so the plan is an index range scan per piece and never
/// a scan of every bucket of the KB. Each subquery ends in <c>OFFSET 0</c>: without it PostgreSQL
/// flattens it into a join, cannot estimate the array of pieces, and hashes a scan of the whole table
/// (measured: 18 s instead of 7 ms for 2,000 minutes over 470,000 rollup rows).
/// </summary>
internal static class RollupReads
{
    private const string Final = "('succeeded', 'duplicate', 'failed', 'timed_out')";

    private const string RawColumns =
        "o.id, o.kb_id, o.kind, o.status, o.requested_by, o.requested_at, o.started_at, o.finished_at, " +
        "o.queue_wait_ms, o.lock_wait_ms, o.pull_ms, o.process_ms, o.commit_ms, o.push_ms";

    /// <summary>Every column of hour and day rows, for the figures over the whole range.</summary>
    public static async Task<List<RollupRow>> ReadCoarseAsync(RollupSession session, IEnumerable<RollupPiece> pieces, CancellationToken cancellationToken)
    {
        var rows = new List<RollupRow>();
        await using var command = session.Command("""
            SELECT r.grain_seconds, r.bucket_start, r.requested, r.arrivals, r.exits,
                   r.finished_succeeded, r.finished_duplicate, r.finished_failed, r.finished_timed_out,
                   r.succeeded, r.duplicate, r.failed, r.timed_out, r.agent_tasks, r.arrival_offset_ms, r.exit_offset_ms,
                   r.queue_wait_sum_ms, r.lock_wait_sum_ms, r.pull_sum_ms, r.process_sum_ms, r.commit_sum_ms, r.push_sum_ms,
                   array_send(r.queue_wait_bins), array_send(r.lock_wait_bins),
                   array_send(r.pull_bins), array_send(r.process_bins),
                   array_send(r.commit_bins), array_send(r.push_bins)
            FROM unnest(@grains, @froms, @tos) AS p(grain_seconds, range_from, range_to)
            CROSS JOIN LATERAL (
                SELECT * FROM operation_rollups r
                WHERE r.kb_id = ANY(@kbs) AND r.grain_seconds = p.grain_seconds AND r.bucket_start >= p.range_from AND r.bucket_start < p.range_to OFFSET 0
            ) r
            """);
        AddPieces(command, pieces.Select(p => (0, p)));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new RollupRow
            {
                Grain = reader.GetInt32(0),
                Start = reader.GetFieldValue<DateTimeOffset>(1),
                Requested = reader.GetInt32(2),
                Arrivals = reader.GetInt32(3),
                Exits = reader.GetInt32(4),
                FinishedSucceeded = reader.GetInt32(5),
                FinishedDuplicate = reader.GetInt32(6),
                FinishedFailed = reader.GetInt32(7),
                FinishedTimedOut = reader.GetInt32(8),
                Succeeded = Int(reader, 9),
                Duplicate = Int(reader, 10),
                Failed = Int(reader, 11),
                TimedOut = Int(reader, 12),
                AgentTasks = Int(reader, 13),
                ArrivalOffsetMs = Double(reader, 14),
                ExitOffsetMs = Double(reader, 15),
                QueueWaitSumMs = Double(reader, 16),
                LockWaitSumMs = Double(reader, 17),
                PullSumMs = Double(reader, 18),
                ProcessSumMs = Double(reader, 19),
                CommitSumMs = Double(reader, 20),
                PushSumMs = Double(reader, 21),
                QueueWait = Histogram(reader, 22),
                LockWait = Histogram(reader, 23),
                Pull = Histogram(reader, 24),
                Process = Histogram(reader, 25),
                Commit = Histogram(reader, 26),
                Push = Histogram(reader, 27),
            });
        }

        return rows;
    }

    /// <summary>What the per-bucket figures need (throughput, queue and lock waits), for pieces tagged with their bucket.</summary>
    public static async Task<List<RollupRow>> ReadPerBucketAsync(RollupSession session, IEnumerable<(int Tag, RollupPiece Piece)> pieces, CancellationToken cancellationToken)
    {
        var rows = new List<RollupRow>();
        await using var command = session.Command("""
            SELECT p.tag, r.finished_succeeded, r.finished_duplicate, r.finished_failed, r.finished_timed_out,
                   array_send(r.queue_wait_bins), array_send(r.lock_wait_bins)
            FROM unnest(@tags, @grains, @froms, @tos) AS p(tag, grain_seconds, range_from, range_to)
            CROSS JOIN LATERAL (
                SELECT r.finished_succeeded, r.finished_duplicate, r.finished_failed, r.finished_timed_out, r.queue_wait_bins, r.lock_wait_bins
                FROM operation_rollups r
                WHERE r.kb_id = ANY(@kbs) AND r.grain_seconds = p.grain_seconds AND r.bucket_start >= p.range_from AND r.bucket_start < p.range_to OFFSET 0
            ) r
            """);
        AddPieces(command, pieces);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new RollupRow
            {
                Tag = reader.GetInt32(0),
                FinishedSucceeded = reader.GetInt32(1),
                FinishedDuplicate = reader.GetInt32(2),
                FinishedFailed = reader.GetInt32(3),
                FinishedTimedOut = reader.GetInt32(4),
                QueueWait = Histogram(reader, 5),
                LockWait = Histogram(reader, 6),
            });
        }

        return rows;
    }

    /// <summary>Queue arrivals, exits, their offsets and the rise per bucket (summed over the KBs asked), for the queue-depth search.</summary>
    public static async Task<List<RollupRow>> ReadQueueCountsAsync(RollupSession session, IEnumerable<RollupPiece> pieces, CancellationToken cancellationToken)
    {
        var rows = new List<RollupRow>();
        await using var command = session.Command("""
            SELECT r.grain_seconds, r.bucket_start, sum(r.arrivals)::bigint, sum(r.exits)::bigint, sum(r.arrival_offset_ms), sum(r.exit_offset_ms),
                   coalesce(sum(r.peak_bound), 0)::bigint, count(*) = 1
            FROM unnest(@grains, @froms, @tos) AS p(grain_seconds, range_from, range_to)
            CROSS JOIN LATERAL (
                SELECT r.grain_seconds, r.bucket_start, r.arrivals, r.exits, r.arrival_offset_ms, r.exit_offset_ms, r.peak_bound FROM operation_rollups r
                WHERE r.kb_id = ANY(@kbs) AND r.grain_seconds = p.grain_seconds AND r.bucket_start >= p.range_from AND r.bucket_start < p.range_to OFFSET 0
            ) r
            GROUP BY r.grain_seconds, r.bucket_start
            """);
        AddPieces(command, pieces.Select(p => (0, p)));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new RollupRow
            {
                Grain = reader.GetInt32(0),
                Start = reader.GetFieldValue<DateTimeOffset>(1),
                Arrivals = reader.GetInt64(2),
                Exits = reader.GetInt64(3),
                ArrivalOffsetMs = reader.GetDouble(4),
                ExitOffsetMs = reader.GetDouble(5),
                PeakBound = reader.GetInt64(6),
                PeakIsExact = reader.GetBoolean(7),
            });
        }

        return rows;
    }

    /// <summary>
    /// Queue arrivals minus exits of the finished operations before <paramref name="before"/>, which
    /// must be a whole minute: all days before its day, the hours of its day before its hour and the
    /// minutes of its hour before it (a few hundred rows for a year of history).
    /// </summary>
    public static async Task<long> ReadQueueBalanceBeforeAsync(RollupSession session, DateTimeOffset before, CancellationToken cancellationToken)
    {
        await using var command = session.Command("""
            SELECT coalesce(sum(r.arrivals - r.exits), 0)::bigint FROM operation_rollups r
            WHERE r.kb_id = ANY(@kbs) AND (
                   (r.grain_seconds = 86400 AND r.bucket_start < @day)
                OR (r.grain_seconds = 3600 AND r.bucket_start >= @day AND r.bucket_start < @hour)
                OR (r.grain_seconds = 60 AND r.bucket_start >= @hour AND r.bucket_start < @minute))
            """);
        command.Parameters.Add(Time("day", RollupGrains.Floor(before, RollupGrains.Day)));
        command.Parameters.Add(Time("hour", RollupGrains.Floor(before, RollupGrains.Hour)));
        command.Parameters.Add(Time("minute", before));
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>
    /// The history rows (any status) requested, started or finished in any of <paramref name="ranges"/>:
    /// the raw parts of a range, whose figures no whole bucket holds. Each row once.
    /// </summary>
    public static async Task<List<RawOperation>> ReadRawAsync(RollupSession session, IReadOnlyCollection<(DateTimeOffset From, DateTimeOffset To)> ranges, CancellationToken cancellationToken)
    {
        if (ranges.Count == 0)
        {
            return [];
        }

        await using var command = session.Command($"""
            SELECT DISTINCT ON (o.id) o.* FROM unnest(@froms, @tos) AS p(range_from, range_to)
            CROSS JOIN LATERAL (
                SELECT {RawColumns} FROM operations o WHERE {session.KbFilter} AND o.requested_at >= p.range_from AND o.requested_at < p.range_to
                UNION ALL
                SELECT {RawColumns} FROM operations o WHERE {session.KbFilter} AND o.finished_at >= p.range_from AND o.finished_at < p.range_to
                UNION ALL
                SELECT {RawColumns} FROM operations o WHERE {session.KbFilter} AND o.started_at >= p.range_from AND o.started_at < p.range_to OFFSET 0
            ) o
            """);
        command.Parameters.Add(Times("froms", ranges.Select(r => r.From)));
        command.Parameters.Add(Times("tos", ranges.Select(r => r.To)));
        return await ReadOperationsAsync(command, cancellationToken);
    }

    /// <summary>The finished operations (final status) requested in <paramref name="ranges"/>: the raw parts of the figures over the whole range.</summary>
    public static async Task<List<RawOperation>> ReadRequestedAsync(RollupSession session, IReadOnlyCollection<(DateTimeOffset From, DateTimeOffset To)> ranges, CancellationToken cancellationToken)
    {
        if (ranges.Count == 0)
        {
            return [];
        }

        await using var command = session.Command($"""
            SELECT o.* FROM unnest(@froms, @tos) AS p(range_from, range_to)
            CROSS JOIN LATERAL (
                SELECT {RawColumns} FROM operations o
                WHERE {session.KbFilter} AND o.requested_at >= p.range_from AND o.requested_at < p.range_to AND o.status IN {Final} OFFSET 0
            ) o
            """);
        command.Parameters.Add(Times("froms", ranges.Select(r => r.From)));
        command.Parameters.Add(Times("tos", ranges.Select(r => r.To)));
        return await ReadOperationsAsync(command, cancellationToken);
    }

    /// <summary>Operations queued or running now, requested before <paramref name="until"/>: rollups hold only finished ones.</summary>
    public static async Task<List<RawOperation>> ReadOpenAsync(RollupSession session, DateTimeOffset until, CancellationToken cancellationToken)
    {
        await using var command = session.Command($"""
            SELECT {RawColumns} FROM operations o
            WHERE o.status IN ('queued', 'running') AND o.requested_at < @until AND {session.KbFilter}
            """);
        command.Parameters.Add(Time("until", until));
        return await ReadOperationsAsync(command, cancellationToken);
    }

    /// <summary>Finished operations per requester in the pieces' buckets of <c>requester_rollups</c> (one row per bucket and KB).</summary>
    public static async Task<Dictionary<string, long>> ReadRequesterCountsAsync(RollupSession session, IEnumerable<RollupPiece> pieces, CancellationToken cancellationToken)
    {
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        await using var command = session.Command("""
            SELECT r.requesters, r.operations
            FROM unnest(@grains, @froms, @tos) AS p(grain_seconds, range_from, range_to)
            CROSS JOIN LATERAL (
                SELECT r.requesters, r.operations FROM requester_rollups r
                WHERE r.kb_id = ANY(@kbs) AND r.grain_seconds = p.grain_seconds AND r.bucket_start >= p.range_from AND r.bucket_start < p.range_to OFFSET 0
            ) r
            """);
        AddPieces(command, pieces.Select(p => (0, p)));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var (names, operations) = (reader.GetFieldValue<string[]>(0), reader.GetFieldValue<int[]>(1));
            for (var i = 0; i < names.Length; i++)
            {
                counts[names[i]] = counts.GetValueOrDefault(names[i]) + operations[i];
            }
        }

        return counts;
    }

    /// <summary>The queue and lock wait histograms of <paramref name="requesters"/> in the pieces' buckets of <c>requester_waits</c>.</summary>
    public static async Task<List<(string RequestedBy, StoredHistogram QueueWait, StoredHistogram LockWait)>> ReadRequesterWaitsAsync(
        RollupSession session, IEnumerable<RollupPiece> pieces, IReadOnlyCollection<string> requesters, CancellationToken cancellationToken)
    {
        var rows = new List<(string, StoredHistogram, StoredHistogram)>();
        await using var command = session.Command("""
            SELECT w.requested_by, array_send(w.queue_wait_bins), array_send(w.lock_wait_bins)
            FROM unnest(@grains, @froms, @tos) AS p(grain_seconds, range_from, range_to)
            CROSS JOIN unnest(@names) AS n(requested_by)
            CROSS JOIN LATERAL (
                SELECT w.requested_by, w.queue_wait_bins, w.lock_wait_bins FROM requester_waits w
                WHERE w.kb_id = ANY(@kbs) AND w.grain_seconds = p.grain_seconds AND w.requested_by = n.requested_by
                  AND w.bucket_start >= p.range_from AND w.bucket_start < p.range_to OFFSET 0
            ) w
            """);
        AddPieces(command, pieces.Select(p => (0, p)));
        command.Parameters.Add(new NpgsqlParameter<string[]>("names", NpgsqlDbType.Array | NpgsqlDbType.Text) { TypedValue = [.. requesters] });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add((reader.GetString(0), Histogram(reader, 1), Histogram(reader, 2)));
        }

        return rows;
    }

    /// <summary>Per requester, the finished operations (final status) requested in <paramref name="ranges"/>: the raw parts of the requesters' counts.</summary>
    public static async Task<Dictionary<string, long>> ReadRequesterCountsRawAsync(RollupSession session, IReadOnlyCollection<(DateTimeOffset From, DateTimeOffset To)> ranges, CancellationToken cancellationToken)
    {
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        if (ranges.Count == 0)
        {
            return counts;
        }

        await using var command = session.Command($"""
            SELECT o.requested_by, count(*)
            FROM unnest(@froms, @tos) AS p(range_from, range_to)
            CROSS JOIN LATERAL (
                SELECT o.requested_by FROM operations o
                WHERE {session.KbFilter} AND o.requested_at >= p.range_from AND o.requested_at < p.range_to AND o.status IN {Final} OFFSET 0
            ) o
            GROUP BY o.requested_by
            """);
        command.Parameters.Add(Times("froms", ranges.Select(r => r.From)));
        command.Parameters.Add(Times("tos", ranges.Select(r => r.To)));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            counts[reader.GetString(0)] = reader.GetInt64(1);
        }

        return counts;
    }

    /// <summary>The queue and lock waits of <paramref name="requesters"/>' finished operations (final status) requested in <paramref name="ranges"/>.</summary>
    public static async Task<List<(string RequestedBy, double? QueueWaitMs, double? LockWaitMs)>> ReadRequesterWaitsRawAsync(
        RollupSession session, IReadOnlyCollection<(DateTimeOffset From, DateTimeOffset To)> ranges, IReadOnlyCollection<string> requesters, CancellationToken cancellationToken)
    {
        var rows = new List<(string, double?, double?)>();
        if (ranges.Count == 0 || requesters.Count == 0)
        {
            return rows;
        }

        await using var command = session.Command($"""
            SELECT o.requested_by, o.queue_wait_ms, o.lock_wait_ms
            FROM unnest(@froms, @tos) AS p(range_from, range_to)
            CROSS JOIN LATERAL (
                SELECT o.requested_by, o.queue_wait_ms, o.lock_wait_ms FROM operations o
                WHERE {session.KbFilter} AND o.requested_at >= p.range_from AND o.requested_at < p.range_to AND o.status IN {Final}
                  AND o.finished_at IS NOT NULL AND o.requested_by = ANY(@names) OFFSET 0
            ) o
            """);
        command.Parameters.Add(Times("froms", ranges.Select(r => r.From)));
        command.Parameters.Add(Times("tos", ranges.Select(r => r.To)));
        command.Parameters.Add(new NpgsqlParameter<string[]>("names", NpgsqlDbType.Array | NpgsqlDbType.Text) { TypedValue = [.. requesters] });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add((reader.GetString(0), NullableDouble(reader, 1), NullableDouble(reader, 2)));
        }

        return rows;
    }

    private static async Task<List<RawOperation>> ReadOperationsAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        var rows = new List<RawOperation>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            if (!OperationEnumNames.TryParseStatus(reader.GetString(3), out var status))
            {
                continue;
            }

            rows.Add(new RawOperation(
                reader.GetGuid(0), reader.GetString(1), reader.GetString(2) == "agent" ? OperationKind.Agent : OperationKind.Note, status, reader.GetString(4),
                reader.GetFieldValue<DateTimeOffset>(5), NullableTime(reader, 6), NullableTime(reader, 7),
                NullableDouble(reader, 8), NullableDouble(reader, 9), NullableDouble(reader, 10), NullableDouble(reader, 11), NullableDouble(reader, 12), NullableDouble(reader, 13)));
        }

        return rows;
    }

    private static void AddPieces(NpgsqlCommand command, IEnumerable<(int Tag, RollupPiece Piece)> pieces)
    {
        var list = pieces.Where(p => !p.Piece.IsRaw).ToList();
        command.Parameters.Add(new NpgsqlParameter<int[]>("tags", NpgsqlDbType.Array | NpgsqlDbType.Integer) { TypedValue = list.Select(p => p.Tag).ToArray() });
        command.Parameters.Add(new NpgsqlParameter<int[]>("grains", NpgsqlDbType.Array | NpgsqlDbType.Integer) { TypedValue = list.Select(p => p.Piece.Grain).ToArray() });
        command.Parameters.Add(Times("froms", list.Select(p => p.Piece.Start)));
        command.Parameters.Add(Times("tos", list.Select(p => p.Piece.End)));
    }

    private static NpgsqlParameter<DateTime[]> Times(string name, IEnumerable<DateTimeOffset> times) =>
        new(name, NpgsqlDbType.Array | NpgsqlDbType.TimestampTz) { TypedValue = times.Select(t => t.UtcDateTime).ToArray() };

    private static NpgsqlParameter<DateTime> Time(string name, DateTimeOffset time) =>
        new(name, NpgsqlDbType.TimestampTz) { TypedValue = time.UtcDateTime };

    private static StoredHistogram Histogram(NpgsqlDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? default : new StoredHistogram(reader.GetFieldValue<byte[]>(ordinal));

    private static long Int(NpgsqlDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? 0 : reader.GetInt32(ordinal);

    private static double Double(NpgsqlDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? 0 : reader.GetDouble(ordinal);

    private static double? NullableDouble(NpgsqlDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetDouble(ordinal);

    private static DateTimeOffset? NullableTime(NpgsqlDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetFieldValue<DateTimeOffset>(ordinal);
}

// Exact queries (AnalyticsQuery.Exact) are indexed by the AnalyticsIndexes migration (see KbSyncDbContext).
// Measured before the rollups on 1,000,000 rows over 30 days (50 KBs, ~200 requesters; `./dev bench
// analytics-1m`, numbers in docs/benchmarks.md) on 2 cores: every statement over one KB (any range) or over
// a day of all KBs takes 4-300 ms; over all 1,000,000 rows at once 0.16-0.97 s, the step durations slowest:
// exact percentiles sort every value in the range, CPU-bound, which an index does not help (hence the sorts
// split over two connections). The default answers come from the rollups (`./dev bench stats-api`).

using System.Data;
using KbSync.Contracts;
using KbSync.Persistence.Analytics.Rollups;
using Microsoft.EntityFrameworkCore;
using Npgsql;
using NpgsqlTypes;

namespace KbSync.Persistence.Analytics;

/// <summary>
/// Statistics over the operation history, for one KB, a set of KBs or all of them. By default from the
/// rollups (<see cref="RollupStatistics"/>: whole buckets of rollups plus the raw rows at the range's
/// ends; percentiles and maxima within <see cref="LogHistogram.RelativeError"/>, everything else
/// exact); with <see cref="AnalyticsQuery.Exact"/> computed inside PostgreSQL over the raw rows, each
/// method one aggregate statement reading back a handful of rows. Each method validates its
/// <see cref="AnalyticsQuery"/> first (<see cref="ArgumentException"/>).
/// </summary>
/// <remarks>
/// <para>Which operations each figure covers, for the range [Since, Until):</para>
/// <list type="bullet">
/// <item>status counts, waits, step durations and requesters: operations <b>requested</b> in the
/// range (waits, steps and requesters' waits only those that have finished);</item>
/// <item>waits over time: operations <b>requested</b> in each bucket that have finished;</item>
/// <item>throughput: operations <b>finished</b> in each bucket;</item>
/// <item>queue depth: the queue as it was at every instant of the range (<see cref="QueueContention"/>).</item>
/// </list>
/// <para>Percentiles are PostgreSQL's <c>percentile_cont</c> (exact queries; from the rollups within
/// <see cref="LogHistogram.RelativeError"/> of it): with n sorted values v[0..n-1], p is at rank
/// r = p(n-1), interpolated linearly between v[floor r] and v[ceil r].</para>
/// <para>Statements run in a read-only transaction with JIT compilation off (compiling costs more
/// than these queries take), <c>work_mem</c> of <see cref="SortMemory"/> (a percentile over a
/// million values then sorts in memory rather than on disk: 15-20 % faster) and a statement timeout
/// of <see cref="StatementTimeout"/>: a statement running longer is cancelled with a
/// <see cref="PostgresException"/> (SQLSTATE 57014).</para>
/// </remarks>
public sealed class OperationAnalytics(IDbContextFactory<KbSyncDbContext> contexts, HistoryConnection? connection = null)
{
    /// <summary>Plain Npgsql connections: no EF Core start-up in a process that only reads statistics (<see cref="HistoryConnection"/>).</summary>
    private readonly Lazy<string> _connectionString = new(() => HistoryConnection.Resolve(connection, contexts));

    public const int DefaultTopRequesters = 10;
    public const int MaxTopRequesters = 100;

    /// <summary>PostgreSQL's work_mem for these statements: per sort, so up to four times this for the step durations.</summary>
    public const string SortMemory = "48MB";

    /// <summary>Longest a single statement may run before PostgreSQL cancels it.</summary>
    public static readonly TimeSpan StatementTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Operations requested in the range, by their current status.</summary>
    public Task<StatusCounts> GetStatusCountsAsync(AnalyticsQuery query, CancellationToken cancellationToken = default) =>
        RunAsync(query, ReadStatusCountsAsync, async (rollups, ct) => (await rollups.ReadRangeAsync(ct)).Statuses, cancellationToken);

    /// <summary>Queue wait and lock wait (p50, p95, p99, max) of the finished operations requested in the range.</summary>
    public Task<WaitStats> GetWaitsAsync(AnalyticsQuery query, CancellationToken cancellationToken = default) =>
        RunAsync(query, ReadWaitsAsync, async (rollups, ct) => (await rollups.ReadRangeAsync(ct)).Waits, cancellationToken);

    /// <summary>Pull, process, commit and push durations (p50, p95) of the finished operations requested in the range that ran each step.</summary>
    public Task<StepStats> GetStepDurationsAsync(AnalyticsQuery query, CancellationToken cancellationToken = default) =>
        RunAsync(query, ReadStepsAsync, async (rollups, ct) => (await rollups.ReadRangeAsync(ct)).Steps, cancellationToken);

    /// <summary>Operations finished in each bucket of the range, by outcome; empty buckets included.</summary>
    public Task<IReadOnlyList<ThroughputBucket>> GetThroughputAsync(AnalyticsQuery query, CancellationToken cancellationToken = default) =>
        RunAsync(query, ReadThroughputAsync, async (rollups, ct) => (await rollups.ReadPerBucketAsync(ct)).Throughput, cancellationToken);

    /// <summary>
    /// Queue wait and lock wait (p50, p95) of the finished operations requested in each bucket of
    /// the range: the waits over time. Empty buckets included, with <c>null</c> percentiles.
    /// </summary>
    public Task<IReadOnlyList<WaitBucket>> GetWaitsOverTimeAsync(AnalyticsQuery query, CancellationToken cancellationToken = default) =>
        RunAsync(query, ReadWaitsOverTimeAsync, async (rollups, ct) => (await rollups.ReadPerBucketAsync(ct)).Waits, cancellationToken);

    /// <summary>Peak and time-weighted mean queue depth over the range; see <see cref="QueueContention"/> for the definition.</summary>
    public Task<QueueContention> GetQueueContentionAsync(AnalyticsQuery query, CancellationToken cancellationToken = default) =>
        RunAsync(query, ReadQueueAsync, (rollups, ct) => rollups.ReadQueueAsync(ct), cancellationToken);

    /// <summary>
    /// The <paramref name="top"/> requesters (1 to <see cref="MaxTopRequesters"/>) with the most
    /// operations requested in the range, most first (ties by name), with their waits.
    /// </summary>
    public Task<IReadOnlyList<RequesterWaits>> GetRequesterWaitsAsync(AnalyticsQuery query, int top = DefaultTopRequesters, CancellationToken cancellationToken = default)
    {
        ValidateTop(top);
        return RunAsync(query, (session, ct) => ReadRequestersAsync(session, top, ct), (rollups, ct) => rollups.ReadRequestersAsync(top, ct), cancellationToken);
    }

    /// <summary>
    /// All of the above in one record, from one snapshot (one repeatable-read transaction), so the
    /// figures agree with each other even while workers write. Backs <c>GET /kbs/{kb}/stats</c> and
    /// <c>kbsync stats</c>.
    /// </summary>
    public Task<KbStats> GetAllAsync(AnalyticsQuery query, int topRequesters = DefaultTopRequesters, CancellationToken cancellationToken = default)
    {
        ValidateTop(topRequesters);
        return RunAsync(
            query,
            async (session, ct) => new KbStats(
                session.Window.KbId,
                session.Window.Since,
                session.Window.Until,
                session.Window.Bucket,
                await ReadStatusCountsAsync(session, ct),
                await ReadWaitsAsync(session, ct),
                await ReadStepsAsync(session, ct),
                await ReadThroughputAsync(session, ct),
                await ReadQueueAsync(session, ct),
                await ReadRequestersAsync(session, topRequesters, ct),
                await ReadWaitsOverTimeAsync(session, ct)),
            async (rollups, ct) =>
            {
                // four parts on four connections at once, all in the first one's snapshot
                var window = rollups.Window;
                await using var perBucketSession = await rollups.Session.OpenSiblingAsync(ct);
                await using var queueSession = await rollups.Session.OpenSiblingAsync(ct);
                await using var requestersSession = await rollups.Session.OpenSiblingAsync(ct);
                var perBucket = new RollupStatistics(perBucketSession).ReadPerBucketAsync(ct);
                var queue = new RollupStatistics(queueSession).ReadQueueAsync(ct);
                var requesters = new RollupStatistics(requestersSession).ReadRequestersAsync(topRequesters, ct);
                var range = rollups.ReadRangeAsync(ct);
                await Task.WhenAll(range, perBucket, queue, requesters); // all ended, whichever fails, before the sessions close
                var ((statuses, waits, steps), (throughput, waitsOverTime)) = (range.Result, perBucket.Result);
                return new KbStats(window.KbId, window.Since, window.Until, window.Bucket, statuses, waits, steps, throughput, queue.Result, requesters.Result, waitsOverTime);
            },
            cancellationToken);
    }

    private static async Task<StatusCounts> ReadStatusCountsAsync(Session session, CancellationToken cancellationToken)
    {
        var counts = new Dictionary<OperationStatus, long>();
        await using var command = session.Command(AnalyticsSql.StatusCounts);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            if (OperationEnumNames.TryParseStatus(reader.GetString(0), out var status))
            {
                counts[status] = reader.GetInt64(1);
            }
        }

        long Count(OperationStatus status) => counts.GetValueOrDefault(status);
        return new StatusCounts(
            Count(OperationStatus.Queued), Count(OperationStatus.Running), Count(OperationStatus.Succeeded),
            Count(OperationStatus.Duplicate), Count(OperationStatus.Failed), Count(OperationStatus.TimedOut));
    }

    private static async Task<WaitStats> ReadWaitsAsync(Session session, CancellationToken cancellationToken)
    {
        await using var command = session.Command(AnalyticsSql.Waits);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return new WaitStats(
            new WaitDistribution(reader.GetInt64(0), NullableDouble(reader, 1), NullableDouble(reader, 2), NullableDouble(reader, 3), NullableDouble(reader, 4)),
            new WaitDistribution(reader.GetInt64(5), NullableDouble(reader, 6), NullableDouble(reader, 7), NullableDouble(reader, 8), NullableDouble(reader, 9)));
    }

    /// <summary>Four sorts of up to every row in the range: two on a second connection, in the same snapshot, so both run at once.</summary>
    private async Task<StepStats> ReadStepsAsync(Session session, CancellationToken cancellationToken)
    {
        await using var sibling = await OpenSiblingAsync(session, cancellationToken);
        var commitPush = ReadStepPairAsync(sibling.Session, AnalyticsSql.StepsCommitPush, cancellationToken);
        var (pull, process) = await ReadStepPairAsync(session, AnalyticsSql.StepsPullProcess, cancellationToken);
        var (commit, push) = await commitPush;
        return new StepStats(pull, process, commit, push);
    }

    private static async Task<(StepDistribution First, StepDistribution Second)> ReadStepPairAsync(Session session, AnalyticsSql.Variants statement, CancellationToken cancellationToken)
    {
        await using var command = session.Command(statement);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        StepDistribution Step(int first) => new(reader.GetInt64(first), NullableDouble(reader, first + 1), NullableDouble(reader, first + 2));
        return (Step(0), Step(3));
    }

    private static async Task<IReadOnlyList<ThroughputBucket>> ReadThroughputAsync(Session session, CancellationToken cancellationToken)
    {
        var window = session.Window;
        var buckets = new List<ThroughputBucket>(window.BucketCount);
        await using var command = session.Command(AnalyticsSql.Throughput);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var index = reader.GetInt32(0);
            var (succeeded, duplicate, failed, timedOut) = (reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(4));
            buckets.Add(new ThroughputBucket(
                window.BucketStart(index), window.BucketEnd(index),
                succeeded + duplicate + failed + timedOut, succeeded, duplicate, failed, timedOut));
        }

        return buckets;
    }

    /// <summary>Queue and lock waits are read at the same time on two connections (one snapshot), then joined by bucket.</summary>
    private async Task<IReadOnlyList<WaitBucket>> ReadWaitsOverTimeAsync(Session session, CancellationToken cancellationToken)
    {
        await using var sibling = await OpenSiblingAsync(session, cancellationToken);
        var lockWaits = ReadWaitPercentilesAsync(sibling.Session, AnalyticsSql.LockWaitsOverTime, cancellationToken);
        var queueWaits = await ReadWaitPercentilesAsync(session, AnalyticsSql.QueueWaitsOverTime, cancellationToken);
        var locks = await lockWaits;
        var window = session.Window;
        return queueWaits.Select((queue, index) => new WaitBucket(
            window.BucketStart(index), window.BucketEnd(index),
            queue.Count, queue.P50, queue.P95, locks[index].Count, locks[index].P50, locks[index].P95)).ToList();
    }

    /// <summary>One row per bucket, in order: how many waits, their p50 and p95.</summary>
    private static async Task<List<(long Count, double? P50, double? P95)>> ReadWaitPercentilesAsync(
        Session session, AnalyticsSql.Variants statement, CancellationToken cancellationToken)
    {
        var buckets = new List<(long, double?, double?)>(session.Window.BucketCount);
        await using var command = session.Command(statement);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            buckets.Add((reader.GetInt64(1), NullableDouble(reader, 2), NullableDouble(reader, 3)));
        }

        return buckets;
    }

    /// <summary>Arrivals and exits are counted per slot at the same time on two connections (one snapshot), then the peak is searched from those counts.</summary>
    private async Task<QueueContention> ReadQueueAsync(Session session, CancellationToken cancellationToken)
    {
        await using var sibling = await OpenSiblingAsync(session, cancellationToken);
        var exits = ReadSlotCountsAsync(sibling.Session, AnalyticsSql.QueueExits, cancellationToken);
        var arrivals = await ReadSlotCountsAsync(session, AnalyticsSql.QueueArrivals, cancellationToken);
        var departures = await exits;

        await using var command = session.Command(AnalyticsSql.QueueDepth);
        command.Parameters.Add(new NpgsqlParameter<DateTime[]>("arrival_slots", NpgsqlDbType.Array | NpgsqlDbType.TimestampTz) { TypedValue = arrivals.Slots });
        command.Parameters.Add(new NpgsqlParameter<long[]>("arrivals", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { TypedValue = arrivals.Counts });
        command.Parameters.Add(new NpgsqlParameter<double>("arrivals_queued_seconds", NpgsqlDbType.Double) { TypedValue = arrivals.QueuedSeconds });
        command.Parameters.Add(new NpgsqlParameter<DateTime[]>("exit_slots", NpgsqlDbType.Array | NpgsqlDbType.TimestampTz) { TypedValue = departures.Slots });
        command.Parameters.Add(new NpgsqlParameter<long[]>("exits", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { TypedValue = departures.Counts });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        var peak = reader.GetInt64(0);
        DateTimeOffset? peakAt = peak > 0 ? reader.GetFieldValue<DateTimeOffset>(1) : null;
        return new QueueContention(peak, peakAt, reader.GetDouble(2));
    }

    /// <summary>Rows of (slot, count[, queued seconds]); the queued seconds are summed (0 when the statement has none).</summary>
    private static async Task<(DateTime[] Slots, long[] Counts, double QueuedSeconds)> ReadSlotCountsAsync(
        Session session, AnalyticsSql.Variants statement, CancellationToken cancellationToken)
    {
        var slots = new List<DateTime>();
        var counts = new List<long>();
        var queuedSeconds = 0.0;
        await using var command = session.Command(statement);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            slots.Add(reader.GetFieldValue<DateTime>(0));
            counts.Add(reader.GetInt64(1));
            if (reader.FieldCount > 2)
            {
                queuedSeconds += reader.GetDouble(2);
            }
        }

        return ([.. slots], [.. counts], queuedSeconds);
    }

    private static async Task<IReadOnlyList<RequesterWaits>> ReadRequestersAsync(Session session, int top, CancellationToken cancellationToken)
    {
        var requesters = new List<RequesterWaits>(top);
        await using var command = session.Command(AnalyticsSql.Requesters);
        command.Parameters.Add(new NpgsqlParameter<int>("top", NpgsqlDbType.Integer) { TypedValue = top });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            requesters.Add(new RequesterWaits(
                reader.GetString(0), reader.GetInt64(1), NullableDouble(reader, 2), NullableDouble(reader, 3), NullableDouble(reader, 4)));
        }

        return requesters;
    }

    private static double? NullableDouble(NpgsqlDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : reader.GetDouble(ordinal);

    private static void ValidateTop(int top)
    {
        if (top is < 1 or > MaxTopRequesters)
        {
            throw new ArgumentOutOfRangeException(nameof(top), top, $"The number of requesters must be between 1 and {MaxTopRequesters}.");
        }
    }

    /// <summary>How much of a range may lie past the rollups' sealed end and still be answered from them (the rest read raw).</summary>
    private static readonly TimeSpan MaxUnsealed = TimeSpan.FromHours(1);

    private static TimeSpan Uncovered(AnalyticsWindow window, DateTimeOffset sealedUntil) =>
        sealedUntil >= window.Until ? TimeSpan.Zero : window.Until - (sealedUntil > window.Since ? sealedUntil : window.Since);

    /// <summary>
    /// Runs <paramref name="exact"/> over the raw rows when the query asks for exact answers or the
    /// rollups are sealed short of the range by more than <see cref="MaxUnsealed"/>, otherwise <paramref name="fromRollups"/>.
    /// </summary>
    private async Task<T> RunAsync<T>(
        AnalyticsQuery query, Func<Session, CancellationToken, Task<T>> exact, Func<RollupStatistics, CancellationToken, Task<T>> fromRollups, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        var window = query.Validate();
        if (!window.Exact)
        {
            await using var rollups = await RollupSession.OpenAsync(_connectionString.Value, window, cancellationToken);
            if (Uncovered(window, rollups.SealedUntil) <= MaxUnsealed)
            {
                var answer = await fromRollups(new RollupStatistics(rollups), cancellationToken);
                await rollups.CommitAsync(cancellationToken);
                return answer;
            }

            // the builder has not caught up with this range yet (a history being rolled up): the exact SQL is faster than many raw rows through C#
        }

        await using var opened = await OpenAsync(window, snapshot: null, cancellationToken);
        var result = await exact(opened.Session, cancellationToken);
        await opened.Transaction.CommitAsync(cancellationToken);
        return result;
    }

    /// <summary>A second read-only transaction that sees exactly what <paramref name="session"/> sees (its exported snapshot).</summary>
    private async Task<OpenSession> OpenSiblingAsync(Session session, CancellationToken cancellationToken)
    {
        await using var export = session.Command("SELECT pg_export_snapshot()");
        var snapshot = (string)(await export.ExecuteScalarAsync(cancellationToken))!;
        return await OpenAsync(session.Window, snapshot, cancellationToken);
    }

    private async Task<OpenSession> OpenAsync(AnalyticsWindow window, string? snapshot, CancellationToken cancellationToken)
    {
        var connection = new NpgsqlConnection(_connectionString.Value);
        try
        {
            await connection.OpenAsync(cancellationToken);
            var transaction = await connection.BeginTransactionAsync(IsolationLevel.RepeatableRead, cancellationToken);
            var session = new Session(connection, transaction, window);
            var importSnapshot = snapshot is null ? "" : $"SET TRANSACTION SNAPSHOT '{snapshot.Replace("'", "''", StringComparison.Ordinal)}'; ";
            await using (var settings = session.Command(
                $"{importSnapshot}SET TRANSACTION READ ONLY; SET LOCAL jit = off; SET LOCAL work_mem = '{SortMemory}'; SET LOCAL statement_timeout = {(long)StatementTimeout.TotalMilliseconds}"))
            {
                await settings.ExecuteNonQueryAsync(cancellationToken);
            }

            return new OpenSession(connection, transaction, session);
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <summary>A connection, its open transaction and the session on it; disposing closes all three.</summary>
    private sealed class OpenSession(NpgsqlConnection connection, NpgsqlTransaction transaction, Session session) : IAsyncDisposable
    {
        public NpgsqlTransaction Transaction { get; } = transaction;
        public Session Session { get; } = session;

        public async ValueTask DisposeAsync()
        {
            await Transaction.DisposeAsync();
            await connection.DisposeAsync();
        }
    }

    /// <summary>One open read-only transaction and the validated query its statements are about.</summary>
    private sealed class Session(NpgsqlConnection connection, NpgsqlTransaction transaction, AnalyticsWindow window)
    {
        public AnalyticsWindow Window { get; } = window;

        /// <summary>A statement with the query's parameters bound (the KB only in the per-KB variant, the KBs only in the KB-set one).</summary>
        public NpgsqlCommand Command(AnalyticsSql.Variants statement)
        {
            var command = Command(statement.For(Window));
            if (Window.KbId is not null)
            {
                command.Parameters.Add(new NpgsqlParameter<string>("kb", NpgsqlDbType.Text) { TypedValue = Window.KbId });
            }
            else if (Window.KbSet is not null)
            {
                command.Parameters.Add(new NpgsqlParameter<string[]>("kbs", NpgsqlDbType.Array | NpgsqlDbType.Text) { TypedValue = Window.KbSet });
            }

            command.Parameters.Add(new NpgsqlParameter<DateTime>("since", NpgsqlDbType.TimestampTz) { TypedValue = Window.Since.UtcDateTime });
            command.Parameters.Add(new NpgsqlParameter<DateTime>("until", NpgsqlDbType.TimestampTz) { TypedValue = Window.Until.UtcDateTime });
            command.Parameters.Add(Interval("bucket", Window.Bucket));
            command.Parameters.Add(new NpgsqlParameter<int>("buckets", NpgsqlDbType.Integer) { TypedValue = Window.BucketCount });
            command.Parameters.Add(Interval("slot", Window.QueueSlot));
            return command;
        }

        /// <summary>Microseconds only: no days, so adding it to a timestamptz never depends on the session's time zone.</summary>
        private static NpgsqlParameter<NpgsqlInterval> Interval(string name, TimeSpan value) =>
            new(name, NpgsqlDbType.Interval) { TypedValue = new NpgsqlInterval(0, 0, value.Ticks / 10) };

        /// <summary>
        /// The client waits longer than the server's statement timeout, so that a statement too slow
        /// is cancelled by PostgreSQL (a <see cref="PostgresException"/>, SQLSTATE 57014) rather than
        /// by Npgsql breaking the connection.
        /// </summary>
        public NpgsqlCommand Command(string sql) =>
            new(sql, connection, transaction) { CommandTimeout = (int)StatementTimeout.TotalSeconds + 15 };
    }
}

using KbSync.Contracts;
using KbSync.IntegrationTests.Fixtures;
using KbSync.Persistence.Analytics.Rollups;
using KbSync.Persistence.Entities;
using KbSync.Persistence.History;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;

namespace KbSync.IntegrationTests.Analytics;

/// <summary>
/// The rollups follow the history whoever writes it: a history there before any rollup (the builder
/// catches up in rounds of <see cref="RollupBuilderOptions.BatchHours"/>), operations finished as the
/// workers do (batched statements, from several connections at once) in minutes already sealed while
/// two builders run, a finished one changed, rows deleted, retention pruning. After each, the builder
/// catches up and the rollups are checked against the raw rows counted here in C#, and against a
/// build from scratch of the same rows.
/// </summary>
[Collection(ServicesCollection.Name)]
public sealed class RollupMaintenanceTests(PostgresService postgres) : IAsyncLifetime
{
    /// <summary>Days before now: the builder seals only minutes older than its grace.</summary>
    private static readonly DateTimeOffset T0 = new(DateTime.UtcNow.Date.AddDays(-5), TimeSpan.Zero);

    private static readonly RollupBuilderOptions Batch = new() { GraceSeconds = 0, BatchHours = 6 };
    private static readonly string[] Final = ["succeeded", "duplicate", "failed", "timed_out"];

    private TestDatabase _database = null!;

    public async Task InitializeAsync() => _database = await postgres.CreateDatabaseAsync();

    public async Task DisposeAsync() => await _database.DisposeAsync();

    [Fact]
    public async Task Rollups_match_the_raw_rows_after_a_catch_up_late_finishes_changes_deletes_and_prunes()
    {
        var random = new Random(16);
        var rows = new List<OperationRecord>();
        for (var i = 0; i < 400; i++)
        {
            var requested = T0.AddSeconds(random.Next(0, 3 * 86400)).AddMilliseconds(random.Next(1000));
            var kb = $"kb-{random.Next(3)}";
            var who = $"user-{random.Next(6)}";
            rows.Add(random.Next(4) == 0
                ? HistoryRows.Open(kb, who, random.Next(2) == 0 ? OperationStatus.Queued : OperationStatus.Running, requested)
                : HistoryRows.Finished(kb, who, Enum.Parse<OperationStatus>(Final[random.Next(4)].Replace("_", ""), ignoreCase: true),
                    requested, queueWaitMs: Math.Exp(random.NextDouble() * 12), lockWaitMs: random.Next(3) == 0 ? 0 : Math.Exp(random.NextDouble() * 8)));
        }

        await HistoryRows.SaveAsync(_database, rows);
        Assert.Equal(DateTimeOffset.MinValue, await SealedUntilAsync());
        var caughtUp = await AssertRollupsMatchAsync("after the catch-up over the history already there");
        Assert.True(caughtUp.Rounds > 5 * 24 / Batch.BatchHours, $"caught up in {caughtUp.Rounds} rounds"); // from T0's day to now, BatchHours at a time

        // the workers: every open operation (requested in a sealed minute) finished, in batches of up to 20 per
        // statement, from four connections at once, while two builders run rounds (not elected: the functions alone);
        // the finishes start once each builder has built a round, so both are running while they happen
        var open = rows.Where(r => r.Status is OperationStatus.Queued or OperationStatus.Running).Select(r => r.Id).ToList();
        using var finishing = new CancellationTokenSource();
        using var bothBuilding = new CountdownEvent(2);
        var builders = Enumerable.Range(0, 2).Select(_ => Task.Run(async () =>
        {
            var builds = 0;
            await using var connection = new NpgsqlConnection(_database.ConnectionString);
            await connection.OpenAsync();
            do
            {
                try
                {
                    await ExecuteAsync(connection, "SELECT kbsync_rollups_claim(interval '1 hour', interval '0 seconds')", []);
                    await using var transaction = await connection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead);
                    await ExecuteAsync(connection, "SELECT kbsync_rollups_build()", [], transaction);
                    await transaction.CommitAsync();
                    if (++builds == 1)
                    {
                        bothBuilding.Signal();
                    }
                }
                catch (PostgresException error) when (error.SqlState is PostgresErrorCodes.SerializationFailure)
                {
                    // the other builder committed first: this snapshot is stale, the next round starts over
                }
            }
            while (!finishing.IsCancellationRequested);

            return builds;
        })).ToList();
        Assert.True(bothBuilding.Wait(TimeSpan.FromSeconds(60)), "both builders built a round within 60 s");
        await Task.WhenAll(open.Chunk((open.Count + 3) / 4).Select(async share =>
        {
            await using var connection = new NpgsqlConnection(_database.ConnectionString);
            await connection.OpenAsync();
            foreach (var batch in share.Chunk(20))
            {
                await ExecuteAsync(connection, """
                    UPDATE operations SET status = 'running', started_at = coalesce(started_at, requested_at + interval '2 seconds'),
                        queue_wait_ms = coalesce(queue_wait_ms, 2000)
                    WHERE id = ANY(@ids)
                    """, batch);
                await ExecuteAsync(connection, """
                    UPDATE operations SET status = CASE WHEN random() < 0.8 THEN 'succeeded' ELSE 'failed' END,
                        finished_at = started_at + interval '700 milliseconds', lock_wait_ms = 3.5, pull_ms = 120, process_ms = 2, commit_ms = 9, push_ms = 300
                    WHERE id = ANY(@ids)
                    """, batch);
            }
        }));
        await finishing.CancelAsync();
        await Task.WhenAll(builders);
        await AssertRollupsMatchAsync("after the finishes");

        // a finished operation changed, one deleted, an unrelated column rewritten everywhere
        await using (var connection = new NpgsqlConnection(_database.ConnectionString))
        {
            await connection.OpenAsync();
            await ExecuteAsync(connection, "UPDATE operations SET status = 'timed_out', lock_wait_ms = lock_wait_ms * 10 WHERE id = ANY(@ids)", rows.Take(5).Select(r => r.Id).ToArray());
            await ExecuteAsync(connection, "DELETE FROM operations WHERE id = ANY(@ids)", rows.Skip(5).Take(3).Select(r => r.Id).ToArray());
            await ExecuteAsync(connection, "UPDATE operations SET title = 'renamed' WHERE id <> ALL(@ids)", []);
        }

        await AssertRollupsMatchAsync("after changes and deletes");

        var cutoff = T0.AddDays(1).AddHours(7).AddMinutes(13);
        var pruned = await new HistoryRetention(_database.Factory(), Options.Create(new HistoryOptions())).PruneAsync(cutoff);
        Assert.True(pruned > 50, $"pruned {pruned}");
        await AssertRollupsMatchAsync("after pruning");
        Assert.Equal(0L, await ScalarAsync<long>(
            "SELECT count(*) FROM operation_rollups WHERE bucket_start + grain_seconds * interval '1 second' <= @cutoff", cutoff));
        Assert.Equal(0L, await ScalarAsync<long>(
            "SELECT count(*) FROM requester_waits WHERE bucket_start + grain_seconds * interval '1 second' <= @cutoff", cutoff));

        await using (var connection = new NpgsqlConnection(_database.ConnectionString))
        {
            await connection.OpenAsync();
            await ExecuteAsync(connection, "TRUNCATE operations", []);
        }

        Assert.Equal(0L, await ScalarAsync<long>(
            "SELECT (SELECT count(*) FROM operation_rollups) + (SELECT count(*) FROM requester_rollups) + (SELECT count(*) FROM requester_waits) + (SELECT count(*) FROM rollup_changes)", null));
        Assert.Equal(DateTimeOffset.MinValue, await SealedUntilAsync());
    }

    [Fact]
    public async Task A_finish_in_a_sealed_minute_is_logged_and_applied_by_the_next_round_and_one_builder_builds_at_a_time()
    {
        var requested = T0.AddDays(2).AddMinutes(7).AddSeconds(3);
        var open = HistoryRows.Open("kb-late", "alice", OperationStatus.Running, requested);
        await HistoryRows.SaveAsync(_database, [open, HistoryRows.Finished("kb-late", "bob", OperationStatus.Succeeded, requested, queueWaitMs: 40, lockWaitMs: 3)]);

        // elected: while another process holds the builder's lock, CatchUpAsync waits for it
        await using (var holder = new NpgsqlConnection(_database.ConnectionString))
        {
            await holder.OpenAsync();
            await ExecuteAsync(holder, $"SELECT pg_advisory_lock({RollupBuilder.BuilderLockKey})", []);
            var waiting = Builder().CatchUpAsync();
            await Task.Delay(500);
            Assert.False(waiting.IsCompleted);
            Assert.Equal(0L, await ScalarAsync<long>("SELECT count(*) FROM operation_rollups", null));
            await ExecuteAsync(holder, $"SELECT pg_advisory_unlock({RollupBuilder.BuilderLockKey})", []);
            Assert.True((await waiting).SealedUntil > requested);
        }

        const string RequestedInMinute = "SELECT requested::bigint FROM operation_rollups WHERE kb_id = '' AND grain_seconds = 60";
        Assert.Equal(1L, await ScalarAsync<long>(RequestedInMinute, null));
        await using (var connection = new NpgsqlConnection(_database.ConnectionString))
        {
            await connection.OpenAsync();
            await ExecuteAsync(connection, """
                UPDATE operations SET status = 'succeeded', started_at = requested_at + interval '1 second',
                    finished_at = requested_at + interval '2 seconds', queue_wait_ms = 1000, lock_wait_ms = 1
                WHERE id = ANY(@ids)
                """, [open.Id]);
        }

        Assert.Equal(1L, await ScalarAsync<long>("SELECT count(*) FROM rollup_changes", null)); // the finished row; as it was (running) it was in no rollup
        Assert.Equal(1L, await ScalarAsync<long>(RequestedInMinute, null));
        await AssertRollupsMatchAsync("after the late finish");
        Assert.Equal(2L, await ScalarAsync<long>(RequestedInMinute, null));
        Assert.Equal(0L, await ScalarAsync<long>("SELECT count(*) FROM rollup_changes", null));
    }

    private RollupBuilder Builder() => new(_database.Factory(), Options.Create(Batch), NullLogger<RollupBuilder>.Instance);

    private async Task<DateTimeOffset> SealedUntilAsync()
    {
        var at = await ScalarAsync<DateTime>("SELECT sealed_until FROM rollup_state", null);
        return at == DateTime.MinValue ? DateTimeOffset.MinValue : new DateTimeOffset(DateTime.SpecifyKind(at, DateTimeKind.Utc));
    }

    /// <summary>
    /// Catches the builder up, then: hour rollups (per KB and over every KB) against the raw rows counted
    /// here, day requester rollups likewise; then every rollup row against a build from scratch.
    /// </summary>
    private async Task<RollupProgress> AssertRollupsMatchAsync(string when)
    {
        var caughtUp = await Builder().CatchUpAsync();
        var operations = await ReadOperationsAsync();
        var finals = operations.Where(o => Final.Contains(o.Status)).ToList();

        var expected = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var scope in new[] { "" }.Concat(finals.Select(o => o.Kb).Distinct()))
        {
            var mine = finals.Where(o => scope == "" || o.Kb == scope).ToList();
            var hours = mine.Select(o => Hour(o.Requested)).Concat(mine.Where(o => o.Finished is not null).Select(o => Hour(o.Finished!.Value))).Distinct();
            foreach (var hour in hours)
            {
                var requested = mine.Where(o => Hour(o.Requested) == hour).ToList();
                var finished = mine.Where(o => o.Finished is { } f && Hour(f) == hour).ToList();
                expected[$"{scope}|{hour:O}"] = string.Join(' ',
                    requested.Count, Final.Select(s => finished.Count(o => o.Status == s)).Aggregate("", (a, n) => a + n + ","),
                    Bins(requested.Where(o => o.Finished is not null).Select(o => o.QueueWait)));
            }
        }

        var actual = new SortedDictionary<string, string>(StringComparer.Ordinal);
        await using (var connection = new NpgsqlConnection(_database.ConnectionString))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand("""
                SELECT kb_id, bucket_start, requested, finished_succeeded, finished_duplicate, finished_failed, finished_timed_out,
                       array_lower(queue_wait_bins, 1), queue_wait_bins
                FROM operation_rollups WHERE grain_seconds = 3600
                """, connection);
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                var bins = reader.IsDBNull(8) ? [] : reader.GetFieldValue<int?[]>(8)
                    .Select((count, i) => (Bin: reader.GetInt32(7) + i, Count: count)).Where(b => b.Count is not null and not 0).Select(b => $"{b.Bin}:{b.Count}");
                actual[$"{reader.GetString(0)}|{reader.GetFieldValue<DateTimeOffset>(1):O}"] = string.Join(' ',
                    reader.GetInt32(2), $"{reader.GetInt32(3)},{reader.GetInt32(4)},{reader.GetInt32(5)},{reader.GetInt32(6)},", string.Join(';', bins));
            }
        }

        Assert.True(expected.Count > 0, when);
        Assert.Equal(expected, actual);

        var requesters = new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach (var group in finals.GroupBy(o => (o.Kb, Day: RollupGrains.Floor(o.Requested, RollupGrains.Day), o.By)))
        {
            requesters[$"{group.Key.Kb}|{group.Key.Day:O}|{group.Key.By}"] = group.Count();
        }

        var stored = new SortedDictionary<string, long>(StringComparer.Ordinal);
        await using (var connection = new NpgsqlConnection(_database.ConnectionString))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand(
                "SELECT kb_id, bucket_start, n, c FROM requester_rollups, unnest(requesters, operations) AS r(n, c) WHERE grain_seconds = 86400 AND kb_id <> ''", connection);
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                stored[$"{reader.GetString(0)}|{reader.GetFieldValue<DateTimeOffset>(1):O}|{reader.GetString(2)}"] = reader.GetInt32(3);
            }
        }

        Assert.Equal(requesters, stored);

        // every row of every rollup table, kept incrementally, against a build of the same rows from nothing
        var incremental = await SnapshotAsync();
        await using (var connection = new NpgsqlConnection(_database.ConnectionString))
        {
            await connection.OpenAsync();
            await ExecuteAsync(connection, """
                TRUNCATE operation_rollups, requester_rollups, requester_waits, rollup_changes;
                UPDATE rollup_state SET sealed_until = '-infinity', claimed_until = '-infinity'
                """, []);
        }

        await Builder().CatchUpAsync();
        var backfilled = await SnapshotAsync();
        Assert.Equal(backfilled.Count, incremental.Count);
        foreach (var (key, values) in backfilled)
        {
            Assert.True(incremental.TryGetValue(key, out var kept), $"{when}: the build from scratch has {key}, the incremental one did not keep it");
            for (var i = 0; i < values.Length; i++)
            {
                if (values[i] is double d)
                {
                    Assert.Equal(d, (double)kept[i]!, Math.Max(1e-6, Math.Abs(d) * 1e-9));
                }
                else
                {
                    Assert.Equal(values[i], kept[i]);
                }
            }
        }

        return caughtUp;
    }

    /// <summary>Every rollup row by key, arrays as PostgreSQL prints them (with their bounds).</summary>
    private async Task<Dictionary<string, object?[]>> SnapshotAsync()
    {
        var rows = new Dictionary<string, object?[]>();
        await using var connection = new NpgsqlConnection(_database.ConnectionString);
        await connection.OpenAsync();
        foreach (var (table, key) in new[]
                 {
                     ("operation_rollups", "kb_id, grain_seconds, bucket_start"),
                     ("requester_rollups", "kb_id, grain_seconds, bucket_start"),
                     ("requester_waits", "kb_id, grain_seconds, requested_by, bucket_start"),
                 })
        {
            // arrays as text keep their lower bound (a histogram's first bin), which Npgsql's arrays drop
            var columns = new List<string>();
            await using (var list = new NpgsqlCommand(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = @table AND table_schema = current_schema() ORDER BY ordinal_position", connection))
            {
                list.Parameters.AddWithValue("table", table);
                await using var columnReader = await list.ExecuteReaderAsync();
                while (await columnReader.ReadAsync())
                {
                    columns.Add(columnReader.GetString(1) == "ARRAY" ? $"{columnReader.GetString(0)}::text" : columnReader.GetString(0));
                }
            }

            if (table == "requester_rollups")
            {
                // a requester's place in the arrays is the order it first came in: compare names and counts
                columns = ["(SELECT string_agg(n || '=' || c, ',' ORDER BY n) FROM unnest(requesters, operations) AS u(n, c))"];
            }

            await using var command = new NpgsqlCommand($"SELECT {key}, {string.Join(", ", columns)} FROM {table} t", connection);
            await using var reader = await command.ExecuteReaderAsync();
            var keyCount = key.Split(',').Length;
            while (await reader.ReadAsync())
            {
                var values = new object?[reader.FieldCount - keyCount];
                for (var i = keyCount; i < reader.FieldCount; i++)
                {
                    values[i - keyCount] = reader.IsDBNull(i) ? null : reader.GetValue(i);
                }

                rows[table + "|" + string.Join('|', Enumerable.Range(0, keyCount).Select(i => Convert.ToString(reader.GetValue(i), System.Globalization.CultureInfo.InvariantCulture)))] = values;
            }
        }

        return rows;
    }

    private static DateTimeOffset Hour(DateTimeOffset at) => RollupGrains.Floor(at, RollupGrains.Hour);

    private static string Bins(IEnumerable<double?> values) => string.Join(';', values.OfType<double>()
        .GroupBy(LogHistogram.BinOf).OrderBy(g => g.Key).Select(g => $"{g.Key}:{g.Count()}"));

    private async Task<List<(string Kb, string By, string Status, DateTimeOffset Requested, DateTimeOffset? Finished, double? QueueWait)>> ReadOperationsAsync()
    {
        var rows = new List<(string, string, string, DateTimeOffset, DateTimeOffset?, double?)>();
        await using var connection = new NpgsqlConnection(_database.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT kb_id, requested_by, status, requested_at, finished_at, queue_wait_ms FROM operations", connection);
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            rows.Add((reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetFieldValue<DateTimeOffset>(3),
                reader.IsDBNull(4) ? null : reader.GetFieldValue<DateTimeOffset>(4), reader.IsDBNull(5) ? null : reader.GetDouble(5)));
        }

        return rows;
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, Guid[] ids, NpgsqlTransaction? transaction = null)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        command.Parameters.AddWithValue("ids", ids);
        await command.ExecuteNonQueryAsync();
    }

    private async Task<T> ScalarAsync<T>(string sql, DateTimeOffset? cutoff)
    {
        await using var connection = new NpgsqlConnection(_database.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        if (cutoff is { } at)
        {
            command.Parameters.AddWithValue("cutoff", at.UtcDateTime);
        }

        return (T)(await command.ExecuteScalarAsync())!;
    }
}

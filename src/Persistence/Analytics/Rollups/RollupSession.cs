using System.Data;
using Npgsql;
using NpgsqlTypes;

namespace KbSync.Persistence.Analytics.Rollups;

/// <summary>
/// One read-only repeatable-read transaction over the rollups and the history, so every figure of
/// an answer comes from one snapshot: the rollups hold the events before <see cref="SealedUntil"/>
/// (the builder seals minutes and moves it in one transaction), the raw rows the rest. Changes the
/// builder has logged but not applied yet (an operation requested in a sealed minute that finished
/// since, a deletion) show once it has: within <c>Rollups:IntervalSeconds</c>. Knows which KBs the query is about: rollup rows are
/// keyed by KB id, or by '' for every KB; history rows are filtered by KB unless it is every KB.
/// </summary>
internal sealed class RollupSession : IAsyncDisposable
{
    private readonly NpgsqlTransaction _transaction;
    private readonly NpgsqlConnection _connection;
    private readonly string _connectionString;

    private RollupSession(string connectionString, NpgsqlConnection connection, NpgsqlTransaction transaction, AnalyticsWindow window)
    {
        _connectionString = connectionString;
        _transaction = transaction;
        _connection = connection;
        Window = window;
        AllKbs = window.KbId is null && window.KbSet is null;
        RollupKbs = window.KbId is { } kb ? [kb] : window.KbSet ?? [""];
    }

    public AnalyticsWindow Window { get; }

    /// <summary>The rollups hold every event before this instant (a whole minute); <see cref="DateTimeOffset.MinValue"/>: none built yet.</summary>
    public DateTimeOffset SealedUntil { get; private set; }

    /// <summary>Every KB: rollup rows with an empty KB id, and history rows unfiltered.</summary>
    public bool AllKbs { get; }

    /// <summary>The <c>kb_id</c>s of the rollup rows to add up.</summary>
    public string[] RollupKbs { get; }

    /// <summary>The KB condition on <c>operations o</c>: a constant of this assembly, never input.</summary>
    public string KbFilter => AllKbs ? "TRUE" : "o.kb_id = ANY(@kbs)";

    public static Task<RollupSession> OpenAsync(string connectionString, AnalyticsWindow window, CancellationToken cancellationToken) =>
        OpenAsync(connectionString, window, snapshot: null, cancellationToken);

    /// <summary>
    /// A second session that sees exactly what this one sees (its exported snapshot), so parts of one
    /// answer can be read on several connections at once and still agree.
    /// </summary>
    public async Task<RollupSession> OpenSiblingAsync(CancellationToken cancellationToken)
    {
        await using var export = Command("SELECT pg_export_snapshot()");
        var snapshot = (string)(await export.ExecuteScalarAsync(cancellationToken))!;
        return await OpenAsync(_connectionString, Window, snapshot, cancellationToken);
    }

    private static async Task<RollupSession> OpenAsync(string connectionString, AnalyticsWindow window, string? snapshot, CancellationToken cancellationToken)
    {
        var connection = new NpgsqlConnection(connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken);
            var transaction = await connection.BeginTransactionAsync(IsolationLevel.RepeatableRead, cancellationToken);
            var session = new RollupSession(connectionString, connection, transaction, window);
            var importSnapshot = snapshot is null ? "" : $"SET TRANSACTION SNAPSHOT '{snapshot.Replace("'", "''", StringComparison.Ordinal)}'; ";
            await using (var settings = session.Command(
                $"{importSnapshot}SET TRANSACTION READ ONLY; SET LOCAL jit = off; SET LOCAL statement_timeout = {(long)OperationAnalytics.StatementTimeout.TotalMilliseconds}"))
            {
                await settings.ExecuteNonQueryAsync(cancellationToken);
            }

            await using (var state = session.Command("SELECT sealed_until FROM rollup_state WHERE id = 1"))
            {
                session.SealedUntil = await state.ExecuteScalarAsync(cancellationToken) is DateTime at && at != DateTime.MinValue
                    ? new DateTimeOffset(DateTime.SpecifyKind(at, DateTimeKind.Utc))
                    : DateTimeOffset.MinValue;
            }

            return session;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <summary>A statement with <c>@kbs</c> bound (<see cref="RollupKbs"/>); the client waits longer than the server's timeout.</summary>
    public NpgsqlCommand Command(string sql)
    {
        var command = new NpgsqlCommand(sql, _connection, _transaction)
        {
            CommandTimeout = (int)OperationAnalytics.StatementTimeout.TotalSeconds + 15,
        };
        command.Parameters.Add(new NpgsqlParameter<string[]>("kbs", NpgsqlDbType.Array | NpgsqlDbType.Text) { TypedValue = RollupKbs });
        return command;
    }

    public Task CommitAsync(CancellationToken cancellationToken) => _transaction.CommitAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        await _transaction.DisposeAsync();
        await _connection.DisposeAsync();
    }
}

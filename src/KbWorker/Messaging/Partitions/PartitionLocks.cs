using KbSync.Contracts;
using KbSync.Persistence;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Npgsql;

namespace KbSync.KbWorker.Messaging.Partitions;

/// <summary>
/// Who owns which partition, kept in PostgreSQL as session advisory locks on one connection of this
/// worker's own: one exclusive lock per owned partition, and one shared "member" lock that every live
/// worker holds, so the number of holders is the number of workers. PostgreSQL drops a session's locks
/// the moment its connection ends, so a killed worker's partitions are free at once. Changes are
/// announced with <c>NOTIFY</c>, so the other workers rebalance without waiting for their next poll.
/// Keys are derived from the RabbitMQ virtual host: deployments sharing a database do not collide.
/// Not thread-safe: <see cref="PartitionOwnership"/> calls it from one place at a time.
/// </summary>
public sealed class PartitionLocks(IDbContextFactory<KbSyncDbContext> contexts, IOptions<RabbitMqOptions> rabbit, IOptions<KbWorkerOptions> options) : IAsyncDisposable
{
    private const string Channel = KbSync.Persistence.Partitions.PartitionLayouts.WorkersChannel;
    private readonly int _partitionKey = Key("kbsync-partitions:" + rabbit.Value.VirtualHost);
    private readonly int _memberKey = Key("kbsync-workers:" + rabbit.Value.VirtualHost);
    private NpgsqlConnection? _connection;
    private bool _notified;

    /// <summary>
    /// What the database says now: how many workers are alive, this worker's rank among them (by
    /// session, 0-based, the same order for every worker), and which partitions are taken (and whether
    /// by this worker).
    /// </summary>
    public sealed record Snapshot(int Workers, int Rank, IReadOnlyDictionary<int, bool> Owners)
    {
        /// <summary>How many partitions this worker should own: an even share, the first ones in rank order taking one more of what does not divide.</summary>
        public int ShareOf(int partitions) => PartitionShare.Of(partitions, Workers, Rank);
    }

    /// <summary>
    /// Opens this worker's lock session if it has none (first call, or the connection broke), joins as a
    /// member and listens for changes. Returns true for a new session: locks of an earlier one are gone.
    /// </summary>
    public async Task<bool> ConnectAsync(CancellationToken cancellationToken)
    {
        if (_connection is { State: System.Data.ConnectionState.Open })
        {
            return false;
        }

        if (_connection is not null)
        {
            await _connection.DisposeAsync();
            _connection = null;
        }

        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var connectionString = new NpgsqlConnectionStringBuilder(db.Database.GetConnectionString())
        {
            Pooling = false, // the locks live exactly as long as this connection
            KeepAlive = 10,
            ApplicationName = $"kbworker {options.Value.WorkerId} partitions",
        };
        var connection = new NpgsqlConnection(connectionString.ConnectionString);
        try
        {
            await connection.OpenAsync(cancellationToken);
            connection.Notification += (_, _) => _notified = true;
            await ExecuteAsync(connection, $"SELECT pg_advisory_lock_shared({_memberKey}, 0); LISTEN {Channel};", cancellationToken);
        }
        catch (Exception error)
        {
            await connection.DisposeAsync();
            if (PostgresAvailability.IsNotAnswering(error) && !cancellationToken.IsCancellationRequested)
            {
                // the caller logs this and tries again at its next check: say which server, never the connection string
                throw new NpgsqlException(PostgresAvailability.Describe(connectionString.ConnectionString, error), error);
            }

            throw;
        }

        _connection = connection;
        return true;
    }

    public async Task<Snapshot> ReadAsync(CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            """
            SELECT classid::int, objid::int, pid, pid = pg_backend_pid()
            FROM pg_locks
            WHERE locktype = 'advisory' AND granted AND objsubid = 2
              AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
              AND classid IN (@partitions::int::oid, @members::int::oid)
            """, Connection);
        command.Parameters.AddWithValue("partitions", _partitionKey);
        command.Parameters.AddWithValue("members", _memberKey);
        var members = new List<(int Pid, bool Mine)>();
        var owners = new Dictionary<int, bool>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            if (reader.GetInt32(0) == _memberKey)
            {
                members.Add((reader.GetInt32(2), reader.GetBoolean(3)));
            }
            else
            {
                owners[reader.GetInt32(1)] = reader.GetBoolean(3);
            }
        }

        var rank = members.OrderBy(m => m.Pid).ToList().FindIndex(m => m.Mine);
        return new Snapshot(Math.Max(1, members.Count), Math.Max(0, rank), owners);
    }

    /// <summary>Takes the partition if no worker holds it. Never call it for a partition this session holds: the lock is reentrant.</summary>
    public async Task<bool> TryClaimAsync(int partition, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand($"SELECT pg_try_advisory_lock({_partitionKey}, {partition})", Connection);
        return (bool)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    public Task ReleaseAsync(int partition, CancellationToken cancellationToken) =>
        ExecuteAsync(Connection, $"SELECT pg_advisory_unlock({_partitionKey}, {partition})", cancellationToken);

    /// <summary>Wakes the other workers: a partition was freed or a worker joined.</summary>
    public Task AnnounceAsync(CancellationToken cancellationToken) => ExecuteAsync(Connection, $"NOTIFY {Channel}", cancellationToken);

    /// <summary>Waits up to <paramref name="timeout"/> for another worker's announcement; true if one came.</summary>
    public async Task<bool> WaitForChangeAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        await Connection.WaitAsync(timeout, cancellationToken);
        var notified = _notified;
        _notified = false;
        return notified;
    }

    public async ValueTask DisposeAsync()
    {
        if (_connection is not null)
        {
            await _connection.DisposeAsync(); // PostgreSQL releases every lock of the session
            _connection = null;
        }
    }

    private NpgsqlConnection Connection => _connection ?? throw new InvalidOperationException("The partition lock session is not open.");

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static int Key(string name) => (int)(Partitioning.Fnv1a(name) & 0x7FFF_FFFF);
}

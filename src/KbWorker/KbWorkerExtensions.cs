using KbSync.KbWorker.Agents;
using KbSync.KbWorker.Failures;
using KbSync.KbWorker.Git;
using KbSync.KbWorker.Locking;
using KbSync.KbWorker.Notes;
using KbSync.KbWorker.Operations;
using KbSync.Persistence;
using KbSync.Persistence.KnowledgeBases;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Npgsql;

namespace KbSync.KbWorker;

public static class KbWorkerExtensions
{
    /// <summary>The worker's options, KB locks, clones and the operation pipeline; migrates the database on start.</summary>
    public static IHostApplicationBuilder AddKbWorker(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<KbWorkerOptions>().BindConfiguration(KbWorkerOptions.Section);
        builder.Services.AddSingleton<KbLocks>();
        builder.Services.AddSingleton<KbClones>();
        builder.Services.AddSingleton<IKbClones>(services => services.GetRequiredService<KbClones>());
        builder.Services.AddSingleton<NoteWriter>();
        builder.Services.AddSingleton<AgentTaskRunner>();
        builder.Services.AddSingleton<OperationRecorder>();
        builder.Services.AddSingleton<PushReplay>();
        builder.Services.AddSingleton<KbGroupRunner>();
        builder.Services.AddSingleton<KbOperationRunner>();
        builder.Services.AddSingleton<Identity.RequestAuthorization>();
        builder.Services.AddSingleton<IServiceProbe, ServiceProbe>();
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<Backstop>();
        builder.Services.AddSingleton<StepReporter>();
        builder.Services.AddHostedService(services => services.GetRequiredService<StepReporter>());
        builder.Services.AddHostedService<MigrateOnStart>();
        return builder;
    }

    /// <summary>
    /// Registered before MassTransit, so the schema is current before the first message; then runs the
    /// history queries once, so the first request does not pay for compiling them. A database that does
    /// not answer yet (PostgreSQL starting, restarting, unreachable) is waited for, with backoff and one
    /// log line per attempt, as MassTransit waits for RabbitMQ: aborting would only make a supervisor
    /// restart the worker into the same wall. A database that answers and refuses (a wrong password, no
    /// such database) still stops the worker at once: waiting would not fix it.
    /// </summary>
    private sealed class MigrateOnStart(
        IDbContextFactory<KbSyncDbContext> contexts,
        DatabaseMigrator migrator,
        KbRegistry registry,
        OperationRecorder recorder,
        ILogger<MigrateOnStart> logger) : IHostedService
    {
        public async Task StartAsync(CancellationToken cancellationToken)
        {
            string connectionString;
            await using (var db = await contexts.CreateDbContextAsync(cancellationToken))
            {
                connectionString = db.Database.GetConnectionString()!;
            }

            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    // a plain connection first: while the database is away, EF Core would log an error of its own on every attempt
                    await using (var connection = new NpgsqlConnection(connectionString))
                    {
                        await connection.OpenAsync(cancellationToken);
                    }

                    await migrator.MigrateAsync(cancellationToken);
                    await registry.FindAsync("warm-up", cancellationToken);
                    await recorder.BeginAsync([], cancellationToken);
                    return;
                }
                catch (Exception error) when (PostgresAvailability.IsNotAnswering(error) && !cancellationToken.IsCancellationRequested)
                {
                    var pause = PostgresAvailability.Backoff(attempt);
                    logger.LogWarning("{Problem}; waiting {Pause:0.#} s before attempt {Attempt}", PostgresAvailability.Describe(connectionString, error), pause.TotalSeconds, attempt + 1);
                    await Task.Delay(pause, cancellationToken);
                }
            }
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}

/// <summary>
/// Tells "PostgreSQL is not answering" (worth waiting for) from "PostgreSQL refuses" (a fault to
/// report), and says which in one line that names the server as host:port only: a connection string
/// holds the password, so it never reaches a log.
/// </summary>
internal static class PostgresAvailability
{
    private static readonly TimeSpan MaxPause = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Npgsql marks a failure transient when the connection could not be made or broke (socket errors,
    /// timeouts, reset) or the server said to come back later (starting up, too many connections);
    /// 57P01/57P02 are the server shutting down under the connection.
    /// </summary>
    public static bool IsNotAnswering(Exception error)
    {
        for (var cause = error; cause is not null; cause = cause.InnerException)
        {
            if (cause is NpgsqlException { IsTransient: true } or PostgresException { SqlState: PostgresErrorCodes.AdminShutdown or PostgresErrorCodes.CrashShutdown })
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>"PostgreSQL at host:port is not answering (what failed)".</summary>
    public static string Describe(string connectionString, Exception error)
    {
        var server = new NpgsqlConnectionStringBuilder(connectionString);
        var reason = error.InnerException is { } inner && !error.Message.Contains(inner.Message, StringComparison.Ordinal)
            ? $"{error.Message}: {inner.Message}"
            : error.Message;
        return $"PostgreSQL at {server.Host}:{server.Port} is not answering ({reason})";
    }

    /// <summary>0.5 s, 1 s, 2 s, 4 s, then every 5 s: quick to notice a restart, quiet through a long outage.</summary>
    public static TimeSpan Backoff(int attempt) => TimeSpan.FromMilliseconds(Math.Min(500 * Math.Pow(2, Math.Min(attempt - 1, 10)), MaxPause.TotalMilliseconds));
}

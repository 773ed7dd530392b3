using KbSync.KbWorker.Agents;
using KbSync.KbWorker.Failures;
using KbSync.KbWorker.Git;
using KbSync.KbWorker.Locking;
using KbSync.KbWorker.Notes;
using KbSync.KbWorker.Operations;
using KbSync.Persistence;
using KbSync.Persistence.KnowledgeBases;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace KbSync.KbWorker;

public static class KbWorkerExtensions
{
    /// <summary>The worker's options, KB locks, clones and the operation pipeline; migrates the database on start.</summary>
    public static IHostApplicationBuilder AddKbWorker(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<KbWorkerOptions>().BindConfiguration(KbWorkerOptions.Section);
        builder.Services.AddSingleton<KbLocks>();
        builder.Services.AddSingleton<KbClones>();
        builder.Services.AddSingleton<NoteWriter>();
        builder.Services.AddSingleton<AgentTaskRunner>();
        builder.Services.AddSingleton<OperationRecorder>();
        builder.Services.AddSingleton<KbOperationRunner>();
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
    /// history queries once, so the first request does not pay for compiling them.
    /// </summary>
    private sealed class MigrateOnStart(DatabaseMigrator migrator, KbRegistry registry, OperationRecorder recorder) : IHostedService
    {
        public async Task StartAsync(CancellationToken cancellationToken)
        {
            await migrator.MigrateAsync(cancellationToken);
            await registry.FindAsync("warm-up", cancellationToken);
            await recorder.BeginAsync([], cancellationToken);
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}

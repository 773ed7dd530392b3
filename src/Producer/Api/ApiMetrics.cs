using System.Diagnostics.Metrics;
using KbSync.Contracts;
using KbSync.Persistence.History;
using Microsoft.Extensions.Options;

namespace KbSync.Producer.Api;

/// <summary>
/// The API's instruments (meter <c>KbSync.Api</c>): the live queue depth per KB, from the history's
/// open operations, refreshed every few seconds (a scrape never waits on the database).
/// </summary>
public sealed class ApiMetrics : BackgroundService
{
    public const string MeterName = "KbSync.Api";
    private static readonly TimeSpan Refresh = TimeSpan.FromSeconds(5);

    private readonly OperationHistory _history;
    private readonly ILogger<ApiMetrics> _logger;
    private readonly Meter _meter;
    private volatile IReadOnlyList<KbQueue> _queues = [];

    private readonly int _partitions;

    public ApiMetrics(OperationHistory history, IMeterFactory meters, IOptions<RabbitMqOptions> rabbit, ILogger<ApiMetrics> logger)
    {
        _partitions = rabbit.Value.Partitions;
        _history = history;
        _logger = logger;
        _meter = meters.Create(MeterName);
        _meter.CreateObservableGauge("kbsync.queue.depth", () => _queues.Select(q => new Measurement<int>(q.Queued + q.Running, new KeyValuePair<string, object?>("kb", q.KbId))),
            "{operation}", "Operations of a KB queued or running");
        _meter.CreateObservableGauge("kbsync.queue.oldest_wait", () => _queues.Select(q => new Measurement<double>((DateTimeOffset.UtcNow - q.OldestRequestedAt).TotalSeconds, new KeyValuePair<string, object?>("kb", q.KbId))),
            "s", "How long the oldest open operation of a KB has been waiting");
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Refresh);
        do
        {
            try
            {
                _queues = await _history.OpenQueuesAsync(_partitions, stoppingToken);
            }
            catch (Exception error) when (!stoppingToken.IsCancellationRequested)
            {
                _logger.LogWarning(error, "Could not refresh the queue depth");
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    public override void Dispose()
    {
        _meter.Dispose();
        base.Dispose();
    }
}

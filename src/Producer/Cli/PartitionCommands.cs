using System.CommandLine;
using KbSync.Contracts;
using KbSync.Persistence.Partitions;
using KbSync.Producer.Client;
using Microsoft.Extensions.Options;

namespace KbSync.Producer.Cli;

/// <summary>
/// <c>kbsync partitions show|change --to N|retire</c>: the partition layouts (<see cref="PartitionLayouts"/>).
/// Like every command that changes the database, for administrators only (it needs the database's
/// credentials); <c>change</c> and <c>retire</c> also need a broker user that may declare and delete queues.
/// README, <i>Changing the partition count</i>, gives the procedure.
/// </summary>
internal static class PartitionCommands
{
    /// <summary>How long retire waits for the workers to stop forwarding the old queues (they look at every balance, 2 s, or when woken).</summary>
    private static readonly TimeSpan ForwardersStopTimeout = TimeSpan.FromSeconds(30);

    public static Command Create()
    {
        var partitions = new Command("partitions", "Show or change how many partition queues requests are spread over.");
        partitions.Subcommands.Add(Show());
        partitions.Subcommands.Add(Change());
        partitions.Subcommands.Add(Retire());
        return partitions;
    }

    private static Command Show()
    {
        var command = new Command("show", "The layouts, the queues of the live ones with their waiting requests, and the drain of a change under way.");
        command.SetAction((_, cancellationToken) => KbSyncCli.RunAsync(async host =>
        {
            var rabbit = host.Services.GetRequiredService<IOptions<RabbitMqOptions>>().Value;
            var layouts = host.Services.GetRequiredService<PartitionLayouts>();
            var set = await layouts.ReadAsync(rabbit.Partitions, cancellationToken);
            foreach (var record in await layouts.HistoryAsync(cancellationToken))
            {
                var layout = new PartitionLayout(record.Epoch, record.Partitions);
                var state = record.RetiredAt is { } retired ? $"retired {retired:u}"
                    : layout == set.Current ? "current" : $"draining: {Enumerable.Range(0, layout.Count).Count(i => set.IsDrained(layout, i))} of {layout.Count} partitions drained, forwarding";
                Console.WriteLine($"{layout}: queues {layout.Queue(0)} … {layout.Queue(layout.Count - 1)}, routing keys {layout.RoutingKey(0)} … {layout.RoutingKey(layout.Count - 1)}; since {record.ChangedAt:u}; {state}");
            }

            if (set.Draining is { } older)
            {
                await using var connection = await BrokerConnection.OpenAsync(rabbit, "kbsync-partitions", cancellationToken);
                var waiting = await LayoutTopology.ReadyCountsAsync(connection, older, cancellationToken);
                Console.WriteLine($"Waiting in the draining layout's queues: {waiting.Sum(c => c)}" +
                    (set.DrainComplete ? (waiting.Sum(c => c) == 0 ? "; every partition drained: 'kbsync partitions retire' once no producer routes with " + older.Count + " partitions any more." : "") : "."));
            }

            if (rabbit.Partitions != set.Current.Count)
            {
                Console.WriteLine($"This process routes with RabbitMq__Partitions={rabbit.Partitions}, not the current {set.Current.Count}: set RabbitMq__Partitions={set.Current.Count} on producers.");
            }

            return 0;
        }, cancellationToken));
        return command;
    }

    private static Command Change()
    {
        var to = new Option<int>("--to") { Description = $"The new partition count, 1 to {PartitionLayout.MaxCount}.", Required = true };
        var command = new Command("change", "Start a new layout with another partition count, on a live system: its queues are declared now, and the workers drain the old layout into it.") { to };
        command.SetAction((parse, cancellationToken) => KbSyncCli.RunAsync(async host =>
        {
            var rabbit = host.Services.GetRequiredService<IOptions<RabbitMqOptions>>().Value;
            var layouts = host.Services.GetRequiredService<PartitionLayouts>();
            var count = PartitionLayout.CheckCount(parse.GetValue(to), "--to");
            var set = await layouts.ReadAsync(rabbit.Partitions, cancellationToken);
            if (set.Draining is { } draining)
            {
                throw new ArgumentException($"A change is under way: {draining} is still live beside {set.Current}. Run 'kbsync partitions retire' once it is drained, then change again.");
            }

            // the queues first: a request routed with the new layout must never be returned for want of a queue
            var next = new PartitionLayout(set.Current.Epoch + 1, count);
            await using (var connection = await BrokerConnection.OpenAsync(rabbit, "kbsync-partitions", cancellationToken))
            {
                await LayoutTopology.DeclareAsync(connection, next, rabbit.MaxQueueLength, cancellationToken);
            }

            var layout = await layouts.ChangeAsync(count, rabbit.Partitions, cancellationToken);
            Console.WriteLine($"Current layout: {layout} (queues {layout.Queue(0)} … {layout.Queue(layout.Count - 1)}, routing keys {layout.RoutingKey(0)} … {layout.RoutingKey(layout.Count - 1)}).");
            Console.WriteLine($"The workers drain the {set.Current.Count} old partitions into it; set RabbitMq__Partitions={count} on producers (requests routed with {set.Current.Count} are forwarded meanwhile), then 'kbsync partitions retire'.");
            return 0;
        }, cancellationToken));
        return command;
    }

    private static Command Retire()
    {
        var command = new Command("retire", "Delete the old layout's queues once it is drained and empty (producers must route with the current count by then: a request routed with the old one is returned).");
        command.SetAction((_, cancellationToken) => KbSyncCli.RunAsync(async host =>
        {
            var rabbit = host.Services.GetRequiredService<IOptions<RabbitMqOptions>>().Value;
            var layouts = host.Services.GetRequiredService<PartitionLayouts>();
            var set = await layouts.ReadAsync(rabbit.Partitions, cancellationToken);
            if (set.Draining is not { } older)
            {
                Console.WriteLine($"Nothing to retire: {set.Current} is the only live layout.");
                return 0;
            }

            if (!set.DrainComplete)
            {
                var left = Enumerable.Range(0, older.Count).Where(i => !set.IsDrained(older, i)).ToList();
                throw new ArgumentException($"{older} is not drained yet: partitions {string.Join(",", left)} still run their requests in place (is a worker running?). Try again later.");
            }

            // no more routes to it, then the workers stop forwarding it; its queues go only once empty and unread
            await using var connection = await BrokerConnection.OpenAsync(rabbit, "kbsync-partitions", cancellationToken);
            await LayoutTopology.UnbindAsync(connection, older, cancellationToken);
            await layouts.SetRetiredAsync(older, retired: true, cancellationToken);
            var deadline = DateTime.UtcNow + ForwardersStopTimeout;
            var states = await LayoutTopology.QueueStatesAsync(connection, older, cancellationToken);
            while (states.Any(s => s.Consumers > 0) && DateTime.UtcNow < deadline)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(250), cancellationToken);
                states = await LayoutTopology.QueueStatesAsync(connection, older, cancellationToken);
            }

            if (states.Where(s => s.Ready > 0 || s.Consumers > 0).ToList() is { Count: > 0 } busy)
            {
                await layouts.SetRetiredAsync(older, retired: false, cancellationToken); // the workers forward what is left
                await Console.Error.WriteLineAsync($"error: not retired: {string.Join(", ", busy.Select(s => $"{s.Queue} ({s.Ready} waiting, {s.Consumers} consumer(s))"))}; " +
                    "its routes are removed and the workers forward what is left: run 'kbsync partitions retire' again.");
                return 1;
            }

            await LayoutTopology.DeleteAsync(connection, older, cancellationToken);
            Console.WriteLine($"Retired {older}: its queues are deleted; {set.Current} is the only live layout.");
            return 0;
        }, cancellationToken));
        return command;
    }
}

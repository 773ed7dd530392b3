using KbSync.Contracts;
using KbSync.IntegrationTests.Fixtures;
using KbSync.Persistence.Entities;
using KbSync.Persistence.History;
using Microsoft.EntityFrameworkCore;

namespace KbSync.IntegrationTests.History;

/// <summary>
/// <see cref="OperationWrites"/> on a real database, for what no worker test shows: a step is written
/// only to a running row (a lost step is only logged, so a broken write would go unseen), an
/// unreadable message never overwrites a finished row, and every string is cut to its column.
/// </summary>
[Collection(ServicesCollection.Name)]
public sealed class OperationWritesTests(PostgresService postgres) : IAsyncLifetime
{
    private static readonly DateTimeOffset Now = DateTimeOffset.UtcNow;
    private TestDatabase _database = null!;
    private OperationWrites _writes = null!;

    public async Task InitializeAsync()
    {
        _database = await postgres.CreateDatabaseAsync();
        _writes = new OperationWrites(_database.Factory());
    }

    public async Task DisposeAsync() => await _database.DisposeAsync();

    [Fact]
    public async Task A_step_is_shown_on_running_operations_only()
    {
        var running = HistoryRows.Open("writes-kb", "alice", OperationStatus.Running, Now);
        var finished = HistoryRows.Finished("writes-kb", "alice", OperationStatus.Succeeded, Now);
        await HistoryRows.SaveAsync(_database, [running, finished]);

        await _writes.StepAsync([running.Id, finished.Id], OperationSteps.Push, CancellationToken.None);

        Assert.Equal(OperationSteps.Push, (await FindAsync(running.Id)).Step);
        Assert.Null((await FindAsync(finished.Id)).Step);
    }

    [Fact]
    public async Task A_step_passes_over_a_row_another_transaction_holds_instead_of_waiting_for_it()
    {
        var held = HistoryRows.Open("writes-kb", "alice", OperationStatus.Running, Now);
        var free = HistoryRows.Open("writes-kb", "bob", OperationStatus.Running, Now);
        await HistoryRows.SaveAsync(_database, [held, free]);
        await using var other = await _database.Factory().CreateDbContextAsync();
        await using var transaction = await other.Database.BeginTransactionAsync();
        await other.Database.ExecuteSqlAsync($"SELECT 1 FROM operations WHERE id = {held.Id} FOR UPDATE"); // as a group's finish holds its rows

        // waiting for the held row would be waiting for the other transaction: it does not end before the deadline
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await _writes.StepAsync([held.Id, free.Id], OperationSteps.Push, deadline.Token);
        await transaction.RollbackAsync();

        Assert.Equal(OperationSteps.Push, (await FindAsync(free.Id)).Step);
        Assert.Null((await FindAsync(held.Id)).Step); // as it was
    }

    [Fact]
    public async Task A_groups_finish_and_the_queue_taps_record_of_the_same_rows_in_other_orders_do_not_deadlock()
    {
        // both lock the rows in id order; each in its own order they ended one another with 40P01
        var arrivals = new QueueArrivals(_database.Factory());
        var random = new Random(15);
        for (var round = 0; round < 30; round++)
        {
            var rows = Enumerable.Range(0, 30).Select(_ => HistoryRows.Open("writes-kb", "alice", OperationStatus.Running, Now)).ToList();
            await HistoryRows.SaveAsync(_database, rows);
            var ends = rows.OrderBy(_ => random.Next()).Select(r => new OperationEnd(r.Id, OperationStatus.Succeeded, null, true, null, null, null, null, null, 0, 0, 0, 0, 0)).ToList();
            var tapped = rows.OrderBy(_ => random.Next()).Select(r => new QueueArrival(new KbRequest(r.Id, r.KbId, r.RequestedBy, Now, new NoteContent("text")), null)).ToList();

            await Task.WhenAll(
                Task.Run(() => _writes.FinishAsync(ends, Now, CancellationToken.None)),
                Task.Run(() => arrivals.RecordAsync(tapped, [], CancellationToken.None)));

            foreach (var row in rows)
            {
                Assert.Equal(OperationStatus.Succeeded, (await FindAsync(row.Id)).Status);
            }
        }
    }

    [Fact]
    public async Task The_step_reporter_leaves_each_running_row_at_its_last_step()
    {
        var a = HistoryRows.Open("writes-kb", "alice", OperationStatus.Running, Now);
        var b = HistoryRows.Open("writes-kb", "bob", OperationStatus.Running, Now);
        await HistoryRows.SaveAsync(_database, [a, b]);
        var reporter = new KbSync.KbWorker.Operations.StepReporter(_writes, Microsoft.Extensions.Logging.Abstractions.NullLogger<KbSync.KbWorker.Operations.StepReporter>.Instance);
        KbSync.KbWorker.Pipeline.PendingOperation Pending(OperationRecord row) => new(new KbRequest(row.Id, row.KbId, row.RequestedBy, Now, new NoteContent("text")), Now);

        // reported before the loop runs, so they pile up and are written together
        reporter.Report([Pending(a), Pending(b)], OperationSteps.Pull);
        reporter.Report([Pending(a)], OperationSteps.Process);
        reporter.Report([Pending(a)], OperationSteps.Push);
        await reporter.StartAsync(CancellationToken.None);
        try
        {
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (((await FindAsync(a.Id)).Step, (await FindAsync(b.Id)).Step) != (OperationSteps.Push, OperationSteps.Pull) && DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
            }

            Assert.Equal((OperationSteps.Push, OperationSteps.Pull), ((await FindAsync(a.Id)).Step, (await FindAsync(b.Id)).Step));
        }
        finally
        {
            await reporter.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task Begin_cuts_strings_to_their_columns_and_leaves_a_success_and_another_kbs_row_as_they_were()
    {
        var succeeded = HistoryRows.Finished("writes-kb", "alice", OperationStatus.Succeeded, Now.AddMinutes(-1));
        var othersKb = HistoryRows.Finished("other-kb", "bob", OperationStatus.Failed, Now.AddMinutes(-1));
        await HistoryRows.SaveAsync(_database, [succeeded, othersKb]);
        var fresh = new OperationStart(Guid.NewGuid(), "writes-kb", OperationKind.Agent, new string('t', 600), new string('r', 300), null, Now.AddSeconds(-2), Now);

        var left = await _writes.BeginAsync(
            [fresh, Start(succeeded.Id, "writes-kb"), Start(othersKb.Id, "writes-kb")], "unit-worker", CancellationToken.None);

        Assert.Equal(new[] { succeeded.Id, othersKb.Id }.Order(), left.Select(r => r.Id).Order());
        var row = await FindAsync(fresh.Id);
        Assert.Equal((OperationStatus.Running, OperationSteps.Lock, 1, "unit-worker"), (row.Status, row.Step, row.Attempts, row.WorkerId));
        Assert.Equal((OperationColumns.Title, OperationColumns.RequestedBy), (row.Title!.Length, row.RequestedBy.Length));
        Assert.Equal(2000, row.QueueWaitMs!.Value, 0);
        Assert.Equal(OperationStatus.Succeeded, (await FindAsync(succeeded.Id)).Status);
        Assert.Equal(("other-kb", OperationStatus.Failed), ((await FindAsync(othersKb.Id)).KbId, (await FindAsync(othersKb.Id)).Status));
    }

    [Fact]
    public async Task An_unreadable_message_is_a_failed_row_with_no_step_but_never_overwrites_a_finished_one()
    {
        var succeeded = HistoryRows.Finished("writes-kb", "alice", OperationStatus.Succeeded, Now);
        var failedBefore = HistoryRows.Finished("writes-kb", "alice", OperationStatus.Failed, Now, error: ReasonCodes.InternalError);
        var running = HistoryRows.Open("writes-kb", "alice", OperationStatus.Running, Now);
        running.Step = OperationSteps.Pull; // a worker that died in its pull, say; the redelivery cannot be read
        await HistoryRows.SaveAsync(_database, [succeeded, failedBefore, running]);
        var unknown = Guid.NewGuid();
        Assert.True(await _writes.RecordUnreadableAsync(running.Id, null, null, ReasonCodes.MalformedMessage, "bad", Now, CancellationToken.None));

        Assert.False(await _writes.RecordUnreadableAsync(succeeded.Id, null, null, ReasonCodes.MalformedMessage, "bad", Now, CancellationToken.None));
        Assert.True(await _writes.RecordUnreadableAsync(failedBefore.Id, null, null, ReasonCodes.MalformedMessage, "bad", Now, CancellationToken.None));
        Assert.True(await _writes.RecordUnreadableAsync(unknown, null, null, ReasonCodes.MalformedMessage, new string('x', 9000), Now, CancellationToken.None));

        Assert.Equal((OperationStatus.Succeeded, (string?)null), ((await FindAsync(succeeded.Id)).Status, (await FindAsync(succeeded.Id)).ErrorCode));
        var again = await FindAsync(failedBefore.Id);
        Assert.Equal(("writes-kb", "alice", ReasonCodes.MalformedMessage, failedBefore.Attempts + 1), (again.KbId, again.RequestedBy, again.ErrorCode, again.Attempts));
        var wasRunning = await FindAsync(running.Id);
        Assert.Equal((OperationStatus.Failed, (string?)null), (wasRunning.Status, wasRunning.Step));
        var fresh = await FindAsync(unknown);
        Assert.Equal(("", OperationKind.Note, OperationStatus.Failed, 1, OperationColumns.ErrorMessage), (fresh.KbId, fresh.Kind, fresh.Status, fresh.Attempts, fresh.ErrorMessage!.Length));
    }

    private static OperationStart Start(Guid id, string kbId) => new(id, kbId, OperationKind.Note, null, "alice", null, Now, Now);

    private async Task<OperationRecord> FindAsync(Guid id)
    {
        await using var db = _database.CreateContext();
        return await db.Operations.AsNoTracking().SingleAsync(o => o.Id == id);
    }
}

using KbSync.KbWorker.Operations;
using KbSync.Persistence.Entities;

namespace KbSync.UnitTests.Operations;

/// <summary>
/// What <see cref="StepReporter"/> writes when reports have piled up: each operation's latest step,
/// one statement per step, so the rows end as they would had every report been written in turn.
/// </summary>
public sealed class StepReporterTests
{
    private static readonly Guid A = Guid.Parse("00000000-0000-0000-0000-00000000000a");
    private static readonly Guid B = Guid.Parse("00000000-0000-0000-0000-00000000000b");
    private static readonly Guid C = Guid.Parse("00000000-0000-0000-0000-00000000000c");

    [Fact]
    public void Each_operation_gets_only_its_last_step_and_each_step_one_statement()
    {
        var latest = StepReporter.Latest([
            ([A, B], OperationSteps.Pull),
            ([C], OperationSteps.Pull),
            ([A, B], OperationSteps.Process),
            ([A, B], OperationSteps.Push),
            ([C], OperationSteps.Process),
        ]);

        Assert.Equal([(OperationSteps.Push, [A, B]), (OperationSteps.Process, [C])],
            latest.Select(s => (s.Step, s.Ids.Order().ToList())).ToList(), new StepComparer());
    }

    [Fact]
    public void One_report_is_written_as_it_is()
    {
        var latest = StepReporter.Latest([([A, B, C], OperationSteps.Lock)]);

        var only = Assert.Single(latest);
        Assert.Equal(OperationSteps.Lock, only.Step);
        Assert.Equal([A, B, C], only.Ids);
    }

    [Fact]
    public void An_operation_reported_again_in_an_earlier_step_shows_the_later_report()
    {
        // a replayed push goes back to pull: the later report wins, whatever its step
        var latest = StepReporter.Latest([([A], OperationSteps.Push), ([A], OperationSteps.Pull)]);

        Assert.Equal((OperationSteps.Pull, A), (Assert.Single(latest).Step, Assert.Single(Assert.Single(latest).Ids)));
    }

    private sealed class StepComparer : IEqualityComparer<(string Step, List<Guid> Ids)>
    {
        public bool Equals((string Step, List<Guid> Ids) x, (string Step, List<Guid> Ids) y) => x.Step == y.Step && x.Ids.SequenceEqual(y.Ids);

        public int GetHashCode((string Step, List<Guid> Ids) obj) => obj.Step.GetHashCode(StringComparison.Ordinal);
    }
}

using System.Diagnostics.Metrics;

namespace KbSync.UnitTests.Doubles;

/// <summary>Meters without a host: the worker's instruments, recorded nowhere.</summary>
public sealed class TestMeters : IMeterFactory
{
    public Meter Create(MeterOptions options) => new(options);

    public void Dispose()
    {
    }
}

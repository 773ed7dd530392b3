using System.Diagnostics;

namespace KbSync.IntegrationTests.Outages;

/// <summary>Waiting for a state during a broker outage test, and how long it took (the test reports it).</summary>
internal static class OutageWait
{
    /// <summary>Polls <paramref name="done"/> every 100 ms until it holds; returns how long that took. Fails with <paramref name="explain"/> after <paramref name="timeout"/>.</summary>
    public static async Task<TimeSpan> UntilAsync(TimeSpan timeout, string what, Func<Task<bool>> done, Func<string> explain)
    {
        var waited = Stopwatch.StartNew();
        while (!await done())
        {
            Assert.True(waited.Elapsed < timeout, $"Waited {timeout} for {what}.\n{explain()}");
            await Task.Delay(100);
        }

        return waited.Elapsed;
    }
}

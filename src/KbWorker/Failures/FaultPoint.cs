namespace KbSync.KbWorker.Failures;

/// <summary>
/// A fault the tests inject into a real worker to prove the <see cref="Backstop"/>: when the
/// environment variable <c>KBSYNC_FAULT_FOR</c> names a requester, applying any of that requester's
/// requests throws an exception no handler knows, as a bug in KbSync would. Unset, as in
/// production, it does nothing (like <see cref="CrashPoint"/>).
/// </summary>
public static class FaultPoint
{
    private static readonly string? Armed = Environment.GetEnvironmentVariable("KBSYNC_FAULT_FOR");

    public static void Reach(string requestedBy)
    {
        if (Armed is { Length: > 0 } && Armed == requestedBy)
        {
            throw new InvalidOperationException($"KBSYNC_FAULT_FOR={Armed}: an injected fault, standing for a bug in KbSync.");
        }
    }
}

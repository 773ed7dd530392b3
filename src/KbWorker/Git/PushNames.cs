namespace KbSync.KbWorker.Git;

/// <summary>A push's outcome as metrics and spans name it.</summary>
public static class PushNames
{
    public static string Of(PushOutcome outcome) => outcome switch
    {
        PushOutcome.Pushed => "pushed",
        PushOutcome.NonFastForward => "non_fast_forward",
        PushOutcome.Locked => "locked",
        _ => "no_remote",
    };
}

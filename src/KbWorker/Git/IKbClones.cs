namespace KbSync.KbWorker.Git;

/// <summary>
/// The worker's clones, one writer's and one reader's per KB (<see cref="KbClones"/>). An interface so
/// the operation pipeline can be driven by an in-memory clone in unit tests.
/// </summary>
public interface IKbClones
{
    /// <summary>Opens the KB's clone (making it when it is missing); call it under the KB lock.</summary>
    /// <param name="reader">The KB's reader clone: read-only tasks fetch into it without touching the writers' clone.</param>
    IKbClone Open(KbRemote kb, bool reader = false);

    /// <summary>Deletes a damaged clone; the next <see cref="Open"/> makes a fresh one and fetches everything again.</summary>
    void Discard(string kbId, bool reader = false);
}

namespace KbSync.KbWorker.Git;

/// <summary>
/// What the git core needs of a registered KB: its id (in the clone's folder name and in messages), its
/// remote (null: none, the commits stay in the worker's clone), its branch, and the name of the
/// environment variable that holds its HTTPS token or SSH key on the workers (never the secret itself).
/// The git core's own record, so it does not depend on how the registry stores a KB.
/// </summary>
public sealed record KbRemote(string Id, string? RemoteUrl, string Branch, string? TokenEnv);

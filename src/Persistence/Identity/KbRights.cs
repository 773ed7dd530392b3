namespace KbSync.Persistence.Identity;

/// <summary>
/// What a principal may do with one KB. <see cref="Read"/>: see its registration, history, queue and
/// statistics. <see cref="Write"/>: add notes. <see cref="Agent"/>: run agent tasks, read-only ones
/// included. <see cref="Manage"/>: re-point its registration, and change its protected paths. Every
/// right implies <see cref="Read"/>; admins have every right on every KB.
/// </summary>
public static class KbRights
{
    public const string Read = "read";
    public const string Write = "write";
    public const string Agent = "agent";
    public const string Manage = "manage";

    public static readonly IReadOnlyList<string> All = [Read, Write, Agent, Manage];

    public static bool IsRight(string? right) => right is not null && All.Contains(right);

    /// <summary>Whether holding <paramref name="held"/> gives <paramref name="wanted"/>.</summary>
    public static bool Gives(string held, string wanted) => held == wanted || wanted == Read;
}

/// <summary>A principal's role.</summary>
public static class Roles
{
    public const string Admin = "admin";
    public const string Member = "member";

    public static bool IsRole(string? role) => role is Admin or Member;
}

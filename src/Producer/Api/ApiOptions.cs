namespace KbSync.Producer.Api;

/// <summary>Settings of <c>kbsync api</c> (section <c>Api</c>: <c>Api__SessionLifetime</c>, <c>Api__KeyFolder</c>).</summary>
public sealed class ApiOptions
{
    public const string Section = "Api";

    /// <summary>
    /// How long a dashboard session lasts after signing in, whatever the browser does meanwhile (no
    /// sliding renewal: the page refreshes every few seconds and would otherwise keep it forever).
    /// </summary>
    public TimeSpan SessionLifetime { get; set; } = TimeSpan.FromHours(8);

    /// <summary>
    /// Where the keys that protect session cookies and sign-in forms are kept; null: ASP.NET Core's
    /// default (the user's profile). Several API processes behind one address must share a folder.
    /// </summary>
    public string? KeyFolder { get; set; }
}

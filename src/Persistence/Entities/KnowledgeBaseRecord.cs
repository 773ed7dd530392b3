namespace KbSync.Persistence.Entities;

/// <summary>
/// A registered KB. The token itself is never stored: only the name of the environment variable
/// that holds it on the workers.
/// </summary>
public sealed class KnowledgeBaseRecord
{
    public string Id { get; set; } = "";
    /// <summary>HTTPS URL, file URL or local path; null for a KB that lives only in the worker's clone.</summary>
    public string? RemoteUrl { get; set; }
    public string Branch { get; set; } = "main";
    public string? TokenEnv { get; set; }

    /// <summary>
    /// Paths only principals with <c>manage</c> may create, change or delete (a folder ends with
    /// <c>/</c>); null: the defaults (<c>ProtectedPathList.Defaults</c>).
    /// </summary>
    public List<string>? ProtectedPaths { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
}

namespace KbSync.Persistence.KnowledgeBases;

/// <summary>
/// The list of a KB's protected paths (<see cref="Entities.KnowledgeBaseRecord.ProtectedPaths"/>): files that change
/// how git, a CI service or KbSync itself treat the KB, which only principals with <c>manage</c> may create, change
/// or delete. Here, beside the registry, because whoever edits a KB's list (the CLI, the HTTP API) and the workers
/// that enforce it must agree on the defaults and on what an entry means; matching a path is the workers' job
/// (<c>KbWorker/Agents/Protection/ProtectedPaths</c>), which also knows git's aliases of its own files.
/// <para>
/// An entry is a path from the KB's root, matched without regard to case, that protects itself and everything
/// under it (writing under a file's name would replace the file by a folder): <c>.lfsconfig</c>, <c>docs/CODEOWNERS</c>;
/// a folder is written with a trailing <c>/</c> (<c>.github/</c>). <c>**/NAME</c> is a name in any folder, the root
/// included (<c>**/.gitattributes</c>: git reads one in every folder). There are no other wildcards.
/// </para>
/// <para>
/// A KB's own list replaces the defaults as a whole; a list edited back to the defaults is stored as null, so the
/// KB follows KbSync's defaults again when they change.
/// </para>
/// </summary>
public static class ProtectedPathList
{
    /// <summary>Marks an entry that names a file or folder in any folder.</summary>
    public const string AnyFolder = "**/";

    public const int MaxEntries = 200;

    public const int MaxEntryLength = 1024;

    /// <summary>
    /// What git itself reads from the tree (submodules, attributes with their filters and LFS, ignore rules, the
    /// author map that rewrites who wrote what in <c>git log</c>), what hosting and CI services run or obey
    /// (workflows, pipelines, code owners), and KbSync's own index files.
    /// </summary>
    public static IReadOnlyList<string> Defaults { get; } =
    [
        "**/.gitmodules",
        "**/.gitattributes",
        "**/.gitignore",
        ".mailmap",
        ".lfsconfig",
        ".github/",
        ".gitlab/",
        ".gitlab-ci.yml",
        ".gitea/",
        ".forgejo/",
        ".circleci/",
        ".buildkite/",
        ".woodpecker/",
        ".woodpecker.yml",
        ".drone.yml",
        ".travis.yml",
        "azure-pipelines.yml",
        "bitbucket-pipelines.yml",
        "Jenkinsfile",
        "CODEOWNERS",
        "docs/CODEOWNERS",
        "index.md",
        "index/",
    ];

    /// <summary>The list in force for a KB: its own, or the defaults (null).</summary>
    public static IReadOnlyList<string> Effective(IReadOnlyList<string>? kbList) => kbList ?? Defaults;

    /// <summary>
    /// An entry as it is stored: <c>\</c> read as <c>/</c>, a leading <c>/</c>, empty and <c>.</c> parts dropped.
    /// Throws <see cref="ArgumentException"/> for what cannot name a path of a KB (empty, <c>..</c>, control
    /// characters, a wildcard other than a leading <c>**/</c>, <c>**/</c> before more than one name).
    /// </summary>
    public static string NormalizeEntry(string? entry)
    {
        var text = entry?.Trim() ?? "";
        if (text.Length == 0)
        {
            throw new ArgumentException("A protected path may not be empty: give a path from the KB's root, such as '.github/' or '**/.gitattributes'.");
        }

        if (text.Length > MaxEntryLength || text.Any(char.IsControl))
        {
            throw new ArgumentException($"'{Shown(text)}' is not a protected path: at most {MaxEntryLength} characters, without control characters.");
        }

        text = text.Replace('\\', '/');
        var anyFolder = text.StartsWith(AnyFolder, StringComparison.Ordinal);
        var folder = text.EndsWith('/');
        var parts = (anyFolder ? text[AnyFolder.Length..] : text).Split('/').Where(p => p.Length > 0 && p != ".").ToList();
        if (parts.Count == 0 || parts.Any(p => p == ".." || p.Contains('*') || p.Contains('?')))
        {
            throw new ArgumentException($"'{text}' is not a protected path: give a path from the KB's root without '..' or wildcards ('.github/', 'docs/CODEOWNERS'), or '**/NAME' for a name in any folder.");
        }

        if (anyFolder && parts.Count > 1)
        {
            throw new ArgumentException($"'{text}' is not a protected path: '**/' takes one name ('**/.gitattributes'), not a path.");
        }

        return (anyFolder ? AnyFolder : "") + string.Join('/', parts) + (folder ? "/" : "");
    }

    /// <summary>What two entries are compared by: the same path whatever its case, and with or without a trailing <c>/</c>.</summary>
    public static string Key(string entry) => entry.TrimEnd('/').ToLowerInvariant();

    /// <summary>
    /// The KB's list after an edit: <paramref name="reset"/> starts from the defaults, then <paramref name="remove"/>
    /// takes entries out (each must be in the list) and <paramref name="add"/> puts them in. Null when the result is
    /// the defaults. Throws <see cref="ArgumentException"/> for a bad entry, one both added and removed, one removed
    /// that is not in the list, or more than <see cref="MaxEntries"/>.
    /// </summary>
    public static List<string>? Edit(IReadOnlyList<string>? current, IEnumerable<string> add, IEnumerable<string> remove, bool reset)
    {
        var list = (reset ? Defaults : Effective(current)).ToList();
        var added = add.Select(NormalizeEntry).ToList();
        var removed = remove.Select(NormalizeEntry).ToList();
        if (added.FirstOrDefault(a => removed.Any(r => Key(r) == Key(a))) is { } both)
        {
            throw new ArgumentException($"'{both}' is both added and removed; say which.");
        }

        foreach (var entry in removed)
        {
            var index = list.FindIndex(e => Key(e) == Key(entry));
            if (index < 0)
            {
                throw new ArgumentException($"'{entry}' is not in the KB's protected paths ({Describe(current)}).");
            }

            list.RemoveAt(index);
        }

        list.AddRange(added.Where(a => !list.Any(e => Key(e) == Key(a))).DistinctBy(Key));
        if (list.Count > MaxEntries)
        {
            throw new ArgumentException($"A KB may have at most {MaxEntries} protected paths.");
        }

        return list.Select(Key).Order(StringComparer.Ordinal).SequenceEqual(Defaults.Select(Key).Order(StringComparer.Ordinal)) ? null : list;
    }

    /// <summary>The list for people: "defaults", "none", or the entries.</summary>
    public static string Describe(IReadOnlyList<string>? kbList) =>
        kbList switch
        {
            null => "the defaults: " + string.Join(", ", Defaults),
            [] => "none",
            _ => string.Join(", ", kbList),
        };

    private static string Shown(string text) => text.Length <= 80 ? new string(text.Select(c => char.IsControl(c) ? '?' : c).ToArray()) : Shown(text[..80]) + "…";
}

namespace KbSync.Persistence.KnowledgeBases;

/// <summary>
/// The one rule for a KB's branch, used where it is registered and again by the worker before the
/// branch becomes a ref, a refspec and, for a local remote, a path (<c>refs/heads/&lt;branch&gt;.lock</c>,
/// where a leading <c>/</c> or a <c>..</c> would reach outside the repository). It is git's
/// <c>check-ref-format</c> for <c>refs/heads/&lt;branch&gt;</c> (libgit2's <c>git_reference_name_is_valid</c>
/// gives the same answers; a unit test compares them), plus what <c>git branch</c> adds: not
/// <c>HEAD</c>, not <c>@</c>, not starting with <c>-</c>. Written out here because the registry does
/// not load libgit2.
/// </summary>
public static class BranchNames
{
    /// <summary>The registry's column width.</summary>
    public const int MaxLength = 250;

    /// <summary>Null when <paramref name="branch"/> is a valid branch name; otherwise why not.</summary>
    public static string? Problem(string? branch)
    {
        if (string.IsNullOrEmpty(branch))
        {
            return "it is empty";
        }

        if (branch.Length > MaxLength)
        {
            return $"it is longer than {MaxLength} characters";
        }

        if (branch is "HEAD" or "@" || branch.StartsWith('-'))
        {
            return "git does not allow 'HEAD', '@' or a leading '-' as a branch name";
        }

        if (branch.Contains("..", StringComparison.Ordinal) || branch.Contains("@{", StringComparison.Ordinal))
        {
            return "it contains '..' or '@{'";
        }

        foreach (var c in branch)
        {
            if (c < 0x20 || c == 0x7F || c is ' ' or '~' or '^' or ':' or '?' or '*' or '[' or '\\' || char.IsSurrogate(c) && !IsPaired(branch))
            {
                return "it contains a space, a control character or one of ~ ^ : ? * [ \\";
            }
        }

        if (branch.EndsWith('.'))
        {
            return "it ends with '.'";
        }

        foreach (var component in branch.Split('/'))
        {
            if (component.Length == 0)
            {
                return "it starts or ends with '/' or contains '//'";
            }

            if (component.StartsWith('.') || component.EndsWith(".lock", StringComparison.Ordinal))
            {
                return $"its part '{component}' starts with '.' or ends with '.lock'";
            }
        }

        return null;
    }

    /// <summary>Throws <see cref="ArgumentException"/> saying why, unless <paramref name="branch"/> is valid.</summary>
    public static string Validate(string? branch) =>
        Problem(branch) is { } problem ? throw new ArgumentException($"'{branch}' is not a valid git branch name: {problem}.") : branch!;

    private static bool IsPaired(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(text[i]))
            {
                return false;
            }
        }

        return true;
    }
}

using System.Diagnostics.CodeAnalysis;
using System.Text.RegularExpressions;

namespace KbSync.Contracts;

/// <summary>
/// KB ids are short lowercase slugs: 1 to 40 characters, <c>a-z</c>, <c>0-9</c> and <c>-</c>,
/// starting and ending with a letter or digit. They name queues' routing, folders and URLs.
/// </summary>
public static partial class KbIds
{
    public const int MaxLength = 40;

    public const string Rule =
        "a KB id is 1 to 40 characters of lowercase letters, digits and '-', starting and ending with a letter or digit";

    public static bool IsValid([NotNullWhen(true)] string? kbId) =>
        kbId is { Length: > 0 and <= MaxLength } && Pattern().IsMatch(kbId);

    /// <summary>Throws <see cref="ArgumentException"/> with a message a user can act on.</summary>
    public static string Validate(string? kbId)
    {
        if (!IsValid(kbId))
        {
            throw new ArgumentException($"'{kbId}' is not a valid KB id: {Rule}.");
        }

        return kbId;
    }

    [GeneratedRegex(@"\A[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\z", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();
}

using KbSync.Contracts;

namespace KbSync.UnitTests.Routing;

public sealed class KbIdsTests
{
    [Theory]
    [InlineData("a")]
    [InlineData("0")]
    [InlineData("team-notes")]
    [InlineData("kb-42")]
    [InlineData("a-b-c")]
    [InlineData("a--b")]
    [InlineData("2026")]
    [InlineData("abcdefghijklmnopqrstuvwxyz0123456789abcd")] // 40 characters
    public void Lowercase_slugs_up_to_40_characters_are_valid_kb_ids(string kbId)
    {
        Assert.True(KbIds.IsValid(kbId));
        Assert.Equal(kbId, KbIds.Validate(kbId));
    }

    [Theory]
    [InlineData("")]
    [InlineData("Team-Notes")]
    [InlineData("TEAM")]
    [InlineData("team_notes")]
    [InlineData("-team")]
    [InlineData("team-")]
    [InlineData("-")]
    [InlineData("abcdefghijklmnopqrstuvwxyz0123456789abcde")] // 41 characters
    [InlineData(" ")]
    [InlineData("team notes")]
    [InlineData(" team")]
    [InlineData("team ")]
    [InlineData("café")]
    [InlineData("ノート")]
    [InlineData("kb-\u0430")] // Cyrillic 'а' that looks like a Latin 'a'
    [InlineData("..")]
    [InlineData("a..b")]
    [InlineData("a.b")]
    [InlineData("a/b")]
    [InlineData("../etc")]
    public void Other_strings_are_not_valid_kb_ids(string kbId)
    {
        Assert.False(KbIds.IsValid(kbId));
    }

    [Fact]
    public void Null_is_not_a_valid_kb_id()
    {
        Assert.False(KbIds.IsValid(null));
        Assert.Throws<ArgumentException>(() => KbIds.Validate(null));
    }

    [Theory]
    [InlineData("team\n")]
    [InlineData("team-notes\n")]
    public void A_kb_id_with_a_trailing_newline_is_not_valid(string kbId)
    {
        // The pattern ends with '$', which also matches just before a final "\n".
        Assert.False(KbIds.IsValid(kbId));
        Assert.Throws<ArgumentException>(() => KbIds.Validate(kbId));
    }

    [Fact]
    public void The_longest_valid_kb_id_has_MaxLength_characters()
    {
        Assert.True(KbIds.IsValid(new string('a', KbIds.MaxLength)));
        Assert.False(KbIds.IsValid(new string('a', KbIds.MaxLength + 1)));
    }

    [Theory]
    [InlineData("Team_Notes")]
    [InlineData("-x")]
    [InlineData("..")]
    [InlineData("")]
    public void Validate_throws_a_message_naming_the_id_and_the_rule(string kbId)
    {
        var error = Assert.Throws<ArgumentException>(() => KbIds.Validate(kbId));
        Assert.Contains($"'{kbId}'", error.Message, StringComparison.Ordinal);
        Assert.Contains(KbIds.Rule, error.Message, StringComparison.Ordinal);
    }
}

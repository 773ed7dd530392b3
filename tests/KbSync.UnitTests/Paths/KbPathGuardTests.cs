using System.Text;
using KbSync.KbWorker.Paths;

namespace KbSync.UnitTests.Paths;

public sealed class KbPathGuardTests
{
    [Theory]
    [InlineData("topics/inbox/2026-01-01-x.md", "topics/inbox/2026-01-01-x.md")]
    [InlineData("a\\b.md", "a/b.md")]
    [InlineData("./a/./b.md", "a/b.md")]
    [InlineData("a//b.md", "a/b.md")]
    [InlineData("a/b/", "a/b")]
    [InlineData("a\\\\b\\.\\c.md", "a/b/c.md")]
    [InlineData("topics/café/ノート.md", "topics/café/ノート.md")]
    [InlineData("emoji/😀 note.md", "emoji/😀 note.md")]
    [InlineData(".gitignore", ".gitignore")]
    [InlineData(".github/workflows/x.yml", ".github/workflows/x.yml")]
    [InlineData(".gitkeep", ".gitkeep")]
    [InlineData("topics/.gitkeep", "topics/.gitkeep")]
    [InlineData(".gitmodules", ".gitmodules")]
    [InlineData(".gitattributes", ".gitattributes")]
    [InlineData("notes/.git-tips.md", "notes/.git-tips.md")]
    [InlineData("git/basics.md", "git/basics.md")]
    [InlineData("git~/x.md", "git~/x.md")]
    [InlineData("a/~draft.md", "a/~draft.md")]
    [InlineData("..hidden.md", "..hidden.md")]
    [InlineData("a..b.md", "a..b.md")]
    [InlineData(" leading space.md", " leading space.md")]
    [InlineData("console.md", "console.md")]
    [InlineData("nullable/COM10.md", "nullable/COM10.md")]
    [InlineData("auxiliary/lpt.md", "auxiliary/lpt.md")]
    [InlineData("a/b.c.d.md", "a/b.c.d.md")]
    [InlineData("100% & #1 [draft] (v2) {x} 'q'.md", "100% & #1 [draft] (v2) {x} 'q'.md")]
    public void Good_paths_are_accepted_and_normalized(string input, string expected)
    {
        Assert.Equal(expected, KbPathGuard.Normalize(input));
    }

    [Fact]
    public void Normalizing_a_normalized_path_changes_nothing()
    {
        const string path = "topics/café/ノート.md";

        Assert.Equal(path, KbPathGuard.Normalize(KbPathGuard.Normalize(path)));
    }

    [Theory]
    // empty, or the KB root itself
    [InlineData(null, UnsafePathReasons.Empty)]
    [InlineData("", UnsafePathReasons.Empty)]
    [InlineData("   ", UnsafePathReasons.Empty)]
    [InlineData("\t", UnsafePathReasons.Empty)]
    [InlineData(".", UnsafePathReasons.Empty)]
    [InlineData("./", UnsafePathReasons.Empty)]
    [InlineData("././/.", UnsafePathReasons.Empty)]
    // absolute: root, drive, UNC, device, home
    [InlineData("/etc/passwd", UnsafePathReasons.Absolute)]
    [InlineData("/./a.md", UnsafePathReasons.Absolute)]
    [InlineData("/", UnsafePathReasons.Absolute)]
    [InlineData("\\Windows\\System32\\x.md", UnsafePathReasons.Absolute)]
    [InlineData("C:\\Windows\\x.md", UnsafePathReasons.Absolute)]
    [InlineData("c:foo.md", UnsafePathReasons.Absolute)]
    [InlineData("C:", UnsafePathReasons.Absolute)]
    [InlineData("z:/x.md", UnsafePathReasons.Absolute)]
    [InlineData("a:b.md", UnsafePathReasons.Absolute)]
    [InlineData("\\\\?\\C:\\x.md", UnsafePathReasons.Absolute)]
    [InlineData("\\\\.\\PhysicalDrive0", UnsafePathReasons.Absolute)]
    [InlineData("\\\\server\\share\\x.md", UnsafePathReasons.Absolute)]
    [InlineData("//server/share/x.md", UnsafePathReasons.Absolute)]
    [InlineData("~", UnsafePathReasons.Absolute)]
    [InlineData("~/x.md", UnsafePathReasons.Absolute)]
    [InlineData("~root/.ssh/authorized_keys", UnsafePathReasons.Absolute)]
    // traversal, even when it would stay inside
    [InlineData("..", UnsafePathReasons.Traversal)]
    [InlineData("../x.md", UnsafePathReasons.Traversal)]
    [InlineData("a/../../x.md", UnsafePathReasons.Traversal)]
    [InlineData("a/../b.md", UnsafePathReasons.Traversal)]
    [InlineData("topics/..", UnsafePathReasons.Traversal)]
    [InlineData("a\\..\\..\\x.md", UnsafePathReasons.Traversal)]
    [InlineData("./../x.md", UnsafePathReasons.Traversal)]
    [InlineData("a/.../b.md", UnsafePathReasons.Traversal)]
    [InlineData("a/.. /b.md", UnsafePathReasons.Traversal)]
    // .git in any case or alias
    [InlineData(".git", UnsafePathReasons.GitDir)]
    [InlineData(".git/config", UnsafePathReasons.GitDir)]
    [InlineData("a/.git/hooks/pre-commit", UnsafePathReasons.GitDir)]
    [InlineData("sub\\.git\\config", UnsafePathReasons.GitDir)]
    [InlineData(".GIT/config", UnsafePathReasons.GitDir)]
    [InlineData(".Git/HEAD", UnsafePathReasons.GitDir)]
    [InlineData("git~1/config", UnsafePathReasons.GitDir)]
    [InlineData("GIT~1/config", UnsafePathReasons.GitDir)]
    [InlineData("Git~2/hooks/post-checkout", UnsafePathReasons.GitDir)]
    [InlineData(".git./config", UnsafePathReasons.GitDir)]
    [InlineData(".git /config", UnsafePathReasons.GitDir)]
    [InlineData(".git. . /config", UnsafePathReasons.GitDir)]
    [InlineData(".git::$INDEX_ALLOCATION/config", UnsafePathReasons.GitDir)]
    [InlineData(".git:stream", UnsafePathReasons.GitDir)]
    [InlineData(".g\u200Cit/config", UnsafePathReasons.GitDir)]
    [InlineData("\uFEFF.git/config", UnsafePathReasons.GitDir)]
    [InlineData(".git\u200D/hooks/x", UnsafePathReasons.GitDir)]
    [InlineData(".gi\u206Ft/HEAD", UnsafePathReasons.GitDir)]
    // control characters anywhere
    [InlineData("a\0b.md", UnsafePathReasons.ControlChar)]
    [InlineData("a.md\0.png", UnsafePathReasons.ControlChar)]
    [InlineData("a/b\n.md", UnsafePathReasons.ControlChar)]
    [InlineData("a\r.md", UnsafePathReasons.ControlChar)]
    [InlineData("a\tb.md", UnsafePathReasons.ControlChar)]
    [InlineData("a\u001B[31mred.md", UnsafePathReasons.ControlChar)]
    [InlineData("a\u007F.md", UnsafePathReasons.ControlChar)]
    [InlineData("a\u0085.md", UnsafePathReasons.ControlChar)]
    [InlineData("a\u009B.md", UnsafePathReasons.ControlChar)]
    // Windows device names, with or without extension, any case
    [InlineData("CON", UnsafePathReasons.ReservedName)]
    [InlineData("con.md", UnsafePathReasons.ReservedName)]
    [InlineData("a/nul.tar.gz", UnsafePathReasons.ReservedName)]
    [InlineData("Aux.md", UnsafePathReasons.ReservedName)]
    [InlineData("PRN/x.md", UnsafePathReasons.ReservedName)]
    [InlineData("COM1.md", UnsafePathReasons.ReservedName)]
    [InlineData("lpt9", UnsafePathReasons.ReservedName)]
    [InlineData("CON .md", UnsafePathReasons.ReservedName)]
    [InlineData("com\u00B9.md", UnsafePathReasons.ReservedName)]
    [InlineData("conout$.md", UnsafePathReasons.ReservedName)]
    // characters invalid on Windows, trailing dot or space, invisible characters, broken UTF-16
    [InlineData("a<b.md", UnsafePathReasons.InvalidChar)]
    [InlineData("a>b.md", UnsafePathReasons.InvalidChar)]
    [InlineData("ab:c.md", UnsafePathReasons.InvalidChar)]
    [InlineData("notes.md:Zone.Identifier", UnsafePathReasons.InvalidChar)]
    [InlineData("notes/\"quoted\".md", UnsafePathReasons.InvalidChar)]
    [InlineData("a|b.md", UnsafePathReasons.InvalidChar)]
    [InlineData("what?.md", UnsafePathReasons.InvalidChar)]
    [InlineData("*.md", UnsafePathReasons.InvalidChar)]
    [InlineData("a.md.", UnsafePathReasons.InvalidChar)]
    [InlineData("a.md ", UnsafePathReasons.InvalidChar)]
    [InlineData("folder./x.md", UnsafePathReasons.InvalidChar)]
    [InlineData("a/ /b.md", UnsafePathReasons.InvalidChar)]
    [InlineData("a\u200Bb.md", UnsafePathReasons.InvalidChar)]
    [InlineData("invoice\u202Etxt.exe", UnsafePathReasons.InvalidChar)]
    [InlineData("a\u2060b.md", UnsafePathReasons.InvalidChar)]
    public void Hostile_paths_are_refused_with_their_specific_reason(string? input, string reason)
    {
        var error = Assert.Throws<UnsafePathException>(() => KbPathGuard.Normalize(input));

        Assert.Equal(reason, error.Reason);
        Assert.Equal(input ?? string.Empty, error.Path);
        Assert.False(string.IsNullOrWhiteSpace(error.Message));
    }

    [Fact]
    public void Lone_surrogates_are_refused_as_invalid_utf16()
    {
        // Not [InlineData]: attribute strings are stored as UTF-8, which would turn lone surrogates into U+FFFD.
        string[] paths = ["a\uD800b.md", "a\uDC00.md", "a.md\uD83D", "topics/\uDE00\uD83D.md"];

        foreach (var path in paths)
        {
            var error = Assert.Throws<UnsafePathException>(() => KbPathGuard.Normalize(path));
            Assert.Equal(UnsafePathReasons.InvalidChar, error.Reason);
        }
    }

    [Theory]
    [InlineData(".GIT")]
    [InlineData(".gIt/objects/x")]
    [InlineData("GIT~1")]
    [InlineData("kb/.git. . /hooks/pre-commit")]
    [InlineData(".git::$INDEX_ALLOCATION")]
    [InlineData(".g\u200Bi\u200Ct\u200D\u200E\u200F\u202A\u202B\u202C\u202D\u202E\u2060\u2061\u2062\u2063\uFEFF/config")]
    public void Dot_git_in_any_case_or_alias_is_refused(string input)
    {
        var error = Assert.Throws<UnsafePathException>(() => KbPathGuard.Normalize(input));

        Assert.Equal(UnsafePathReasons.GitDir, error.Reason);
    }

    [Fact]
    public void A_name_of_exactly_the_component_limit_is_accepted()
    {
        var name = new string('a', KbPathGuard.MaxComponentLength - 3) + ".md";

        Assert.Equal(name, KbPathGuard.Normalize(name));
    }

    [Theory]
    [InlineData('a', KbPathGuard.MaxComponentLength + 1)]
    [InlineData('é', 128)] // 256 bytes in UTF-8, though only 128 characters
    [InlineData('ノ', 86)] // 258 bytes in UTF-8
    public void A_name_longer_than_the_component_limit_in_utf8_bytes_is_refused(char c, int count)
    {
        var error = Assert.Throws<UnsafePathException>(() => KbPathGuard.Normalize("topics/" + new string(c, count)));

        Assert.Equal(UnsafePathReasons.TooLong, error.Reason);
    }

    [Fact]
    public void A_path_of_exactly_the_path_limit_is_accepted()
    {
        var a255 = new string('a', 255);
        var path = string.Join('/', a255, a255, a255, new string('a', 254), "b"); // 1019 + 1 + 4 separators
        Assert.Equal(KbPathGuard.MaxPathLength, Encoding.UTF8.GetByteCount(path));

        Assert.Equal(path, KbPathGuard.Normalize(path));
    }

    [Fact]
    public void A_path_one_byte_over_the_path_limit_is_refused()
    {
        var a255 = new string('a', 255);
        var path = string.Join('/', a255, a255, a255, a255, "b"); // 1021 + 4 separators = 1025

        var error = Assert.Throws<UnsafePathException>(() => KbPathGuard.Normalize(path));

        Assert.Equal(UnsafePathReasons.TooLong, error.Reason);
    }

    [Fact]
    public void A_path_longer_than_the_path_limit_in_utf8_bytes_is_refused()
    {
        var path = string.Join('/', Enumerable.Repeat(new string('é', 100), 6)); // 600 characters, 1205 bytes

        var error = Assert.Throws<UnsafePathException>(() => KbPathGuard.Normalize(path));

        Assert.Equal(UnsafePathReasons.TooLong, error.Reason);
    }

    [Fact]
    public void The_limit_applies_to_the_normalized_path_not_to_dot_padding()
    {
        var path = string.Concat(Enumerable.Repeat("./", 600)) + "a.md"; // 1204 characters in, 4 bytes out

        Assert.Equal("a.md", KbPathGuard.Normalize(path));
    }

    [Fact]
    public void A_huge_input_is_refused_as_too_long_without_further_work()
    {
        var path = new string('/', 1_000_000);

        var error = Assert.Throws<UnsafePathException>(() => KbPathGuard.Normalize(path));

        Assert.Equal(UnsafePathReasons.TooLong, error.Reason);
        Assert.True(error.Message.Length < 1_000, "the message must not quote a megabyte of input");
    }

    [Fact]
    public void The_message_quotes_the_path_with_control_and_invisible_characters_escaped()
    {
        var error = Assert.Throws<UnsafePathException>(() => KbPathGuard.Normalize("evil\n\u001B[2Jname\0.md"));

        Assert.Equal(UnsafePathReasons.ControlChar, error.Reason);
        Assert.Contains("\"evil\\u000A\\u001B[2Jname\\u0000.md\"", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(error.Message, char.IsControl);

        var bidi = Assert.Throws<UnsafePathException>(() => KbPathGuard.Normalize("invoice\u202Etxt.exe"));
        Assert.Contains("\\u202E", bidi.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\u202E', bidi.Message);

        var lone = Assert.Throws<UnsafePathException>(() => KbPathGuard.Normalize("a\uD800b.md"));
        Assert.Contains("\\uD800", lone.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(lone.Message, char.IsSurrogate);
    }

    [Fact]
    public void The_message_says_what_is_wrong_and_keeps_the_raw_path_in_the_exception()
    {
        var error = Assert.Throws<UnsafePathException>(() => KbPathGuard.Normalize("notes/../secret.md"));

        Assert.Equal("notes/../secret.md", error.Path);
        Assert.Contains("\"notes/../secret.md\"", error.Message, StringComparison.Ordinal);
        Assert.Contains("..", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Quoting_escapes_backslashes_and_quotes_so_the_quoted_text_is_unambiguous()
    {
        Assert.Equal("\"a\\\\b \\\"c\\\"\"", UnsafePathException.Quote("a\\b \"c\""));
        Assert.Equal("(null)", UnsafePathException.Quote(null));
    }

    [Fact]
    public void Reason_codes_are_the_documented_stable_strings()
    {
        Assert.Equal(
            ["empty", "absolute", "traversal", "git_dir", "control_char", "reserved_name", "invalid_char", "too_long", "symlink", "outside_root"],
            [
                UnsafePathReasons.Empty, UnsafePathReasons.Absolute, UnsafePathReasons.Traversal, UnsafePathReasons.GitDir,
                UnsafePathReasons.ControlChar, UnsafePathReasons.ReservedName, UnsafePathReasons.InvalidChar,
                UnsafePathReasons.TooLong, UnsafePathReasons.Symlink, UnsafePathReasons.OutsideRoot,
            ]);
    }
}

public sealed class KbPathGuardResolveInsideTests : IDisposable
{
    private readonly DirectoryInfo _root;
    private readonly DirectoryInfo _outside;

    public KbPathGuardResolveInsideTests()
    {
        _root = Directory.CreateTempSubdirectory("kbpathguard-root-");
        _outside = Directory.CreateTempSubdirectory("kbpathguard-outside-");
        File.WriteAllText(Path.Join(_outside.FullName, "secret.md"), "outside");

        Directory.CreateDirectory(Path.Join(_root.FullName, "topics", "inbox"));
        File.WriteAllText(Path.Join(_root.FullName, "topics", "existing.md"), "inside");
        Directory.CreateSymbolicLink(Path.Join(_root.FullName, "link"), _outside.FullName);
        Directory.CreateSymbolicLink(Path.Join(_root.FullName, "topics", "deep-link"), _outside.FullName);
        File.CreateSymbolicLink(Path.Join(_root.FullName, "file-link.md"), Path.Join(_outside.FullName, "secret.md"));
        File.CreateSymbolicLink(Path.Join(_root.FullName, "dangling.md"), Path.Join(_outside.FullName, "not-yet.md"));
        File.CreateSymbolicLink(Path.Join(_root.FullName, "inner-link.md"), Path.Join(_root.FullName, "topics", "existing.md"));
    }

    public void Dispose()
    {
        // Recursive delete removes links without following them.
        _root.Delete(recursive: true);
        _outside.Delete(recursive: true);
    }

    [Fact]
    public void A_normal_nested_path_resolves_to_the_full_path_inside_the_root()
    {
        var full = KbPathGuard.ResolveInside(_root.FullName, "topics/inbox/2026-01-01-x.md");

        Assert.Equal(Path.Join(_root.FullName, "topics", "inbox", "2026-01-01-x.md"), full);
    }

    [Fact]
    public void A_path_whose_folders_do_not_exist_yet_resolves()
    {
        var full = KbPathGuard.ResolveInside(_root.FullName, "new\\folder/./x.md");

        Assert.Equal(Path.Join(_root.FullName, "new", "folder", "x.md"), full);
    }

    [Fact]
    public void An_existing_regular_file_resolves()
    {
        var full = KbPathGuard.ResolveInside(_root.FullName, "topics/existing.md");

        Assert.Equal(Path.Join(_root.FullName, "topics", "existing.md"), full);
    }

    [Fact]
    public void A_root_given_with_a_trailing_separator_or_relative_parts_gives_the_same_full_path()
    {
        var withSeparator = _root.FullName + Path.DirectorySeparatorChar;
        var withDots = Path.Join(_root.FullName, "topics", "..");

        var expected = Path.Join(_root.FullName, "topics", "x.md");
        Assert.Equal(expected, KbPathGuard.ResolveInside(withSeparator, "topics/x.md"));
        Assert.Equal(expected, KbPathGuard.ResolveInside(withDots, "topics/x.md"));
    }

    [Theory]
    [InlineData("link/x.md")]
    [InlineData("link/sub/dir/x.md")]
    [InlineData("link")]
    [InlineData("topics/deep-link/x.md")]
    [InlineData("topics\\deep-link\\secret.md")]
    public void A_path_through_a_symlinked_directory_is_refused(string path)
    {
        var error = Assert.Throws<UnsafePathException>(() => KbPathGuard.ResolveInside(_root.FullName, path));

        Assert.Equal(UnsafePathReasons.Symlink, error.Reason);
    }

    [Theory]
    [InlineData("file-link.md")]
    [InlineData("dangling.md")]
    [InlineData("inner-link.md")]
    public void Writing_to_a_symlinked_file_itself_is_refused_even_if_dangling_or_pointing_inside(string path)
    {
        var error = Assert.Throws<UnsafePathException>(() => KbPathGuard.ResolveInside(_root.FullName, path));

        Assert.Equal(UnsafePathReasons.Symlink, error.Reason);
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Refusing_a_symlink_leaves_the_link_target_untouched()
    {
        Assert.Throws<UnsafePathException>(() => KbPathGuard.ResolveInside(_root.FullName, "file-link.md"));

        Assert.Equal("outside", File.ReadAllText(Path.Join(_outside.FullName, "secret.md")));
        Assert.False(File.Exists(Path.Join(_outside.FullName, "not-yet.md")));
    }

    [Theory]
    [InlineData("../x.md", UnsafePathReasons.Traversal)]
    [InlineData("/etc/passwd", UnsafePathReasons.Absolute)]
    [InlineData(".git/config", UnsafePathReasons.GitDir)]
    [InlineData("", UnsafePathReasons.Empty)]
    [InlineData(".", UnsafePathReasons.Empty)]
    public void Lexically_unsafe_paths_are_refused_before_touching_the_disk(string path, string reason)
    {
        var error = Assert.Throws<UnsafePathException>(() => KbPathGuard.ResolveInside(_root.FullName, path));

        Assert.Equal(reason, error.Reason);
    }

    [Fact]
    public void An_absolute_path_with_the_roots_own_prefix_is_still_refused()
    {
        var error = Assert.Throws<UnsafePathException>(
            () => KbPathGuard.ResolveInside(_root.FullName, Path.Join(_root.FullName, "topics", "x.md")));

        Assert.Equal(UnsafePathReasons.Absolute, error.Reason);
    }

    [Fact]
    public void A_sibling_directory_sharing_the_roots_name_prefix_is_not_inside()
    {
        // "<root>-evil" starts with "<root>" as a string but not with "<root>/": only reachable via "..", refused.
        var error = Assert.Throws<UnsafePathException>(
            () => KbPathGuard.ResolveInside(_root.FullName, "../" + _root.Name + "-evil/x.md"));

        Assert.Equal(UnsafePathReasons.Traversal, error.Reason);
    }

    [Fact]
    public void A_root_reached_through_a_symlink_is_trusted()
    {
        var rootLink = Path.Join(_outside.FullName, "root-link");
        Directory.CreateSymbolicLink(rootLink, _root.FullName);

        var full = KbPathGuard.ResolveInside(rootLink, "topics/x.md");

        Assert.Equal(Path.Join(rootLink, "topics", "x.md"), full);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("  ")]
    public void A_missing_root_is_a_programming_error_not_an_unsafe_path(string? root)
    {
        Assert.ThrowsAny<ArgumentException>(() => KbPathGuard.ResolveInside(root!, "a.md"));
    }
}

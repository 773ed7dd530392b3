using System.Text;
using KbSync.Contracts;
using KbSync.KbWorker.Git;
using KbSync.KbWorker.Notes;
using KbSync.KbWorker.Paths;

namespace KbSync.UnitTests.Notes;

public sealed class NoteLayoutTests
{
    private static readonly Guid OperationId = Guid.Parse("0b9d7a3e-5f2c-4c1a-9e8d-2a6b4c3d1e0f");

    // ---- TitleOf ----

    [Fact]
    public void An_explicit_title_wins_over_the_text()
    {
        Assert.Equal("Given title", NoteLayout.TitleOf(new NoteContent("# Heading\nbody", Title: "Given title")));
    }

    [Theory]
    [InlineData("# Hello world\nbody", "Hello world")]
    [InlineData("## Second level\nbody", "Second level")]
    [InlineData("#NoSpace", "NoSpace")]
    [InlineData("Plain first line\nsecond line", "Plain first line")]
    [InlineData("\n\n   \n# After blank lines\n", "After blank lines")]
    [InlineData("#\n##  \nReal title", "Real title")]
    [InlineData("Windows line\r\nnext", "Windows line")]
    [InlineData("  #   Spaced    out\t heading  \nbody", "Spaced out heading")]
    public void Without_a_title_the_first_non_empty_line_is_the_title_without_its_hashes(string text, string expected)
    {
        Assert.Equal(expected, NoteLayout.TitleOf(new NoteContent(text)));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("\t\n")]
    public void A_blank_title_falls_back_to_the_text(string? title)
    {
        Assert.Equal("From text", NoteLayout.TitleOf(new NoteContent("From text\nmore", Title: title)));
    }

    [Theory]
    [InlineData("  Too   many \t spaces  ", "Too many spaces")]
    [InlineData("Two\nlines", "Two lines")]
    [InlineData("Two\r\nlines", "Two lines")]
    [InlineData("non\u00a0breaking", "non breaking")]
    public void Whitespace_in_a_title_is_collapsed_to_single_spaces(string title, string expected)
    {
        Assert.Equal(expected, NoteLayout.TitleOf(new NoteContent("text", Title: title)));
    }

    [Theory]
    [InlineData("a\u0001b", "ab")]
    [InlineData("bell\u0007", "bell")]
    public void Control_characters_are_removed_from_a_title(string title, string expected)
    {
        Assert.Equal(expected, NoteLayout.TitleOf(new NoteContent("text", Title: title)));
    }

    [Theory]
    [InlineData("a \u0001 b", "a b")]
    [InlineData("\u001b Escaped", "Escaped")]
    public void Removing_control_characters_leaves_no_double_or_leading_spaces_in_a_title(string title, string expected)
    {
        Assert.Equal(expected, NoteLayout.TitleOf(new NoteContent("text", Title: title)));
    }

    [Theory]
    [InlineData("")]
    [InlineData("   \n\t\n")]
    [InlineData("#\n###\n")]
    public void A_note_with_nothing_to_take_a_title_from_is_Untitled(string text)
    {
        Assert.Equal("Untitled", NoteLayout.TitleOf(new NoteContent(text)));
    }

    [Fact]
    public void A_title_of_exactly_200_characters_is_kept_whole()
    {
        var title = new string('x', NoteLayout.MaxTitleLength);
        Assert.Equal(title, NoteLayout.TitleOf(new NoteContent("text", Title: title)));
    }

    [Fact]
    public void A_longer_title_is_cut_to_200_characters_and_an_ellipsis()
    {
        var title = NoteLayout.TitleOf(new NoteContent("text", Title: new string('x', 300)));
        Assert.Equal(new string('x', 200) + "…", title);
    }

    [Fact]
    public void A_long_first_line_is_cut_the_same_way()
    {
        var title = NoteLayout.TitleOf(new NoteContent("# " + new string('y', 250) + "\nbody"));
        Assert.Equal(new string('y', 200) + "…", title);
    }

    [Fact]
    public void A_title_cut_at_a_space_has_no_space_before_the_ellipsis()
    {
        var title = NoteLayout.TitleOf(new NoteContent("text", Title: new string('x', 199) + " " + new string('z', 50)));
        Assert.Equal(new string('x', 199) + "…", title);
    }

    [Fact]
    public void A_long_title_is_not_cut_inside_a_surrogate_pair()
    {
        // "😀" is two UTF-16 chars; cutting at 200 here would keep only its high surrogate,
        // which cannot be encoded to UTF-8 (the file and the commit would get U+FFFD instead).
        var title = NoteLayout.TitleOf(new NoteContent("text", Title: new string('x', 199) + "😀" + new string('z', 50)));

        Assert.Equal(-1, IndexOfLoneSurrogate(title));
        Assert.Equal(title, Encoding.UTF8.GetString(Encoding.UTF8.GetBytes(title)));
        Assert.StartsWith(new string('x', 199), title, StringComparison.Ordinal);
        Assert.EndsWith("…", title, StringComparison.Ordinal);
    }

    // ---- Slugify ----

    [Theory]
    [InlineData("Hello, World!!!", "hello-world")]
    [InlineData("  --Hello--  ", "hello")]
    [InlineData("a  &&  b", "a-b")]
    [InlineData("C# / .NET 10", "c-net-10")]
    [InlineData("UPPER lower 123", "upper-lower-123")]
    [InlineData("already-a-slug", "already-a-slug")]
    public void Slugs_are_lowercase_ascii_words_joined_by_dashes(string text, string expected)
    {
        Assert.Equal(expected, SafeText.Slugify(text));
    }

    [Theory]
    [InlineData("Café Crème", "cafe-creme")]
    [InlineData("Ça va? Señor Müller", "ca-va-senor-muller")]
    public void Accents_are_folded_in_slugs(string text, string expected)
    {
        // Slugify folds accents with Normalize(FormD); with <InvariantGlobalization>true</InvariantGlobalization>
        // (Directory.Build.props, also in kbworker.runtimeconfig.json) that call leaves "é" unchanged on Linux.
        Assert.Equal(expected, SafeText.Slugify(text));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("!!! ??? ---")]
    [InlineData("日本語のノート")]
    [InlineData("Привет мир")]
    [InlineData("😀😀")]
    public void A_text_with_no_latin_letters_or_digits_slugs_to_untitled(string? text)
    {
        Assert.Equal("untitled", SafeText.Slugify(text));
    }

    [Fact]
    public void A_slug_is_at_most_50_characters()
    {
        var slug = SafeText.Slugify(new string('a', 80));
        Assert.Equal(new string('a', 50), slug);
    }

    [Fact]
    public void A_slug_cut_at_50_characters_does_not_end_with_a_dash()
    {
        // 49 letters, then a word: the 50th character would be the dash.
        var slug = SafeText.Slugify(new string('a', 49) + " bcd");
        Assert.Equal(new string('a', 49), slug);
    }

    [Fact]
    public void Slugs_of_many_words_stay_within_the_limit_and_end_with_a_letter_or_digit()
    {
        for (var words = 1; words < 40; words++)
        {
            var slug = SafeText.Slugify(string.Join(" ", Enumerable.Range(0, words).Select(i => $"w{i}")));
            Assert.InRange(slug.Length, 1, SafeText.MaxSlugLength);
            Assert.Matches("^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$", slug);
        }
    }

    // ---- CategoryOf ----

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    public void A_missing_category_is_the_inbox(string? category)
    {
        Assert.Equal("inbox", NoteLayout.CategoryOf(category));
    }

    [Theory]
    [InlineData("Ideas", "ideas")]
    [InlineData("Tech/DotNet", "tech/dotnet")]
    [InlineData("  Tech/DotNet  ", "tech/dotnet")]
    [InlineData("/tech/dotnet/", "tech/dotnet")]
    [InlineData("Big Ideas", "big-ideas")]
    [InlineData("untitled", "untitled")]
    public void Categories_are_one_or_two_slugged_segments(string category, string expected)
    {
        Assert.Equal(expected, NoteLayout.CategoryOf(category));
    }

    [Fact]
    public void Accents_are_folded_in_categories()
    {
        Assert.Equal("cafe/creme-brulee", NoteLayout.CategoryOf("Café/Crème Brûlée"));
    }

    [Theory]
    [InlineData("a/b/c")]
    [InlineData("tech//dotnet")]
    [InlineData("../x")]
    [InlineData("x/..")]
    [InlineData("..")]
    [InlineData(".")]
    [InlineData("tech/ /")]
    [InlineData("!!!")]
    [InlineData("日本")]
    [InlineData("tech/日本")]
    [InlineData(".git")]
    [InlineData("tech/.GIT")]
    [InlineData("git~1/notes")]
    [InlineData("tech/.git. ")]
    public void Other_categories_are_refused_with_a_message_naming_them(string category)
    {
        var error = Assert.Throws<ArgumentException>(() => NoteLayout.CategoryOf(category));
        Assert.Contains($"'{category}'", error.Message, StringComparison.Ordinal);
        Assert.Contains("category", error.Message, StringComparison.Ordinal);
    }

    // ---- TagsOf ----

    [Fact]
    public void No_tags_is_an_empty_list()
    {
        Assert.Empty(NoteLayout.TagsOf(null));
        Assert.Empty(NoteLayout.TagsOf([]));
        Assert.Empty(NoteLayout.TagsOf(["", "   "]));
    }

    [Fact]
    public void Tags_are_trimmed_and_deduplicated_in_order()
    {
        Assert.Equal(["dotnet", "git", "ideas"], NoteLayout.TagsOf([" dotnet ", "git", "dotnet", "", "ideas", "git "]));
    }

    [Fact]
    public void Null_tags_in_the_list_are_ignored()
    {
        Assert.Equal(["a"], NoteLayout.TagsOf([null!, "a"]));
    }

    [Fact]
    public void Twenty_tags_are_allowed_counting_duplicates_once()
    {
        var tags = Enumerable.Range(0, 20).Select(i => $"t{i}").ToList();
        Assert.Equal(20, NoteLayout.TagsOf(tags).Count);
        Assert.Equal(20, NoteLayout.TagsOf([.. tags, "t0", " t1 "]).Count);
    }

    [Fact]
    public void More_than_twenty_tags_are_refused()
    {
        var tags = Enumerable.Range(0, 21).Select(i => $"t{i}").ToList();
        var error = Assert.Throws<ArgumentException>(() => NoteLayout.TagsOf(tags));
        Assert.Contains("at most 20", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_tag_of_50_characters_is_allowed_but_not_51()
    {
        Assert.Single(NoteLayout.TagsOf([new string('t', 50)]));
        var error = Assert.Throws<ArgumentException>(() => NoteLayout.TagsOf([new string('t', 51)]));
        Assert.Contains("50 characters", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("a,b")]
    [InlineData(",")]
    [InlineData("tab\tinside")]
    [InlineData("line\nbreak")]
    public void Tags_with_commas_or_control_characters_are_refused(string tag)
    {
        var error = Assert.Throws<ArgumentException>(() => NoteLayout.TagsOf(["ok", tag]));
        Assert.Contains("commas", error.Message, StringComparison.Ordinal);
    }

    // ---- PathOf ----

    [Fact]
    public void A_note_path_is_under_topics_with_the_category_date_and_slug()
    {
        var createdAt = new DateTimeOffset(2026, 3, 14, 9, 26, 53, TimeSpan.Zero);
        Assert.Equal("topics/tech/dotnet/2026-03-14-my-note.md", NoteLayout.PathOf("tech/dotnet", createdAt, "my-note"));
    }

    [Fact]
    public void The_date_in_a_note_path_is_the_utc_date()
    {
        // 01:30 on the 1st of March in UTC+5 is still the 28th of February in UTC.
        var createdAt = new DateTimeOffset(2026, 3, 1, 1, 30, 0, TimeSpan.FromHours(5));
        Assert.Equal("topics/inbox/2026-02-28-note.md", NoteLayout.PathOf("inbox", createdAt, "note"));

        // 22:00 on the 31st of December in UTC-3 is already the next year in UTC.
        var late = new DateTimeOffset(2025, 12, 31, 22, 0, 0, TimeSpan.FromHours(-3));
        Assert.Equal("topics/inbox/2026-01-01-note.md", NoteLayout.PathOf("inbox", late, "note"));
    }

    [Fact]
    public void Colliding_note_paths_get_a_number_suffix_from_the_second_attempt()
    {
        var createdAt = new DateTimeOffset(2026, 3, 14, 0, 0, 0, TimeSpan.Zero);
        Assert.Equal("topics/inbox/2026-03-14-note.md", NoteLayout.PathOf("inbox", createdAt, "note", 1));
        Assert.Equal("topics/inbox/2026-03-14-note-2.md", NoteLayout.PathOf("inbox", createdAt, "note", 2));
        Assert.Equal("topics/inbox/2026-03-14-note-3.md", NoteLayout.PathOf("inbox", createdAt, "note", 3));
        Assert.Equal("topics/inbox/2026-03-14-note-10.md", NoteLayout.PathOf("inbox", createdAt, "note", 10));
    }

    // ---- Sibling names and the layout's folders in a KB's tree ----

    [Theory]
    [InlineData("inbox", 1, false, "inbox")]
    [InlineData("inbox", 2, false, "inbox-2")]
    [InlineData("inbox", 10, false, "inbox-10")]
    [InlineData("v1.2", 2, false, "v1.2-2")]
    [InlineData("2026-12.md", 2, true, "2026-12-2.md")]
    [InlineData("index.md", 3, true, "index-3.md")]
    [InlineData("README", 2, true, "README-2")]
    public void A_sibling_name_numbers_a_folder_at_its_end_and_a_file_before_its_extension(string name, int attempt, bool isFile, string expected)
    {
        Assert.Equal(expected, NoteLayout.Sibling(name, attempt, isFile));
    }

    [Fact]
    public void A_note_file_name_takes_the_collision_number_before_its_extension()
    {
        var createdAt = new DateTimeOffset(2026, 3, 14, 0, 0, 0, TimeSpan.Zero);
        Assert.Equal("2026-03-14-note.md", NoteLayout.FileNameOf(createdAt, "note"));
        Assert.Equal("2026-03-14-note-2.md", NoteLayout.FileNameOf(createdAt, "note", 2));
    }

    [Fact]
    public void A_folder_of_the_layout_is_kept_where_its_parts_are_folders_or_nothing()
    {
        var tree = Tree(("topics", KbEntryKind.Folder));

        Assert.Equal("topics/tech/dotnet", NoteLayout.ResolveFolder("topics/tech/dotnet", tree));
    }

    [Fact]
    public void Each_part_that_is_not_a_folder_is_replaced_by_its_first_sibling_that_is()
    {
        var lookups = new List<string>();
        var tree = Tree(("topics", KbEntryKind.Folder), ("topics/tech", KbEntryKind.File), ("topics/tech-2", KbEntryKind.Symlink), ("topics/tech-3", KbEntryKind.Folder), ("topics/tech-3/dotnet", KbEntryKind.Submodule));

        var folder = NoteLayout.ResolveFolder("topics/tech/dotnet", path => { lookups.Add(path); return tree(path); });

        Assert.Equal("topics/tech-3/dotnet-2", folder);
        Assert.Equal(["topics", "topics/tech", "topics/tech-2", "topics/tech-3", "topics/tech-3/dotnet", "topics/tech-3/dotnet-2"], lookups);
    }

    [Fact]
    public void Nothing_under_a_new_folder_is_looked_up()
    {
        var lookups = new List<string>();

        Assert.Equal("topics/inbox", NoteLayout.ResolveFolder("topics/inbox", path => { lookups.Add(path); return null; }));
        Assert.Equal(["topics"], lookups);
    }

    [Fact]
    public void A_folder_whose_siblings_are_all_files_has_no_place()
    {
        Assert.Null(NoteLayout.ResolveFolder("index", _ => KbEntryKind.File));
    }

    [Fact]
    public void Index_md_links_a_month_where_its_file_is()
    {
        var createdAt = new DateTimeOffset(2026, 11, 29, 0, 0, 0, TimeSpan.Zero);
        Assert.Equal("- [2026-11](index-2/2026-11.md)", NoteLayout.MonthLink(createdAt, "index-2/2026-11.md"));
        Assert.Equal("2026-11.md", NoteLayout.MonthIndexName(createdAt));
    }

    private static Func<string, KbEntryKind?> Tree(params (string Path, KbEntryKind Kind)[] entries) =>
        path => entries.Where(e => e.Path == path).Select(e => (KbEntryKind?)e.Kind).SingleOrDefault();

    // ---- Render ----

    [Fact]
    public void A_note_file_is_yaml_front_matter_a_blank_line_and_the_text()
    {
        var note = new NoteContent("# My note\n\nSome *text*.\n", Title: "My note", Category: "Tech/DotNet", Tags: ["dotnet", "ideas"]);
        var createdAt = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.FromHours(1));

        var file = NoteLayout.Render(note, "My note", "tech/dotnet", ["dotnet", "ideas"], createdAt, "Jane Doe", OperationId);

        Assert.Equal(
            "---\n" +
            "title: \"My note\"\n" +
            "category: tech/dotnet\n" +
            "tags: [\"dotnet\", \"ideas\"]\n" +
            "created_at: 2026-01-02T02:04:05Z\n" +
            "author: \"Jane Doe\"\n" +
            "operation_id: 0b9d7a3e-5f2c-4c1a-9e8d-2a6b4c3d1e0f\n" +
            "---\n" +
            "\n" +
            "# My note\n\nSome *text*.\n",
            file);
    }

    [Fact]
    public void A_note_without_tags_has_no_tags_line()
    {
        var createdAt = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);
        var file = NoteLayout.Render(new NoteContent("Body"), "Body", "inbox", [], createdAt, "bob", OperationId);

        Assert.Equal(
            "---\n" +
            "title: \"Body\"\n" +
            "category: inbox\n" +
            "created_at: 2026-01-02T03:04:05Z\n" +
            "author: \"bob\"\n" +
            "operation_id: 0b9d7a3e-5f2c-4c1a-9e8d-2a6b4c3d1e0f\n" +
            "---\n" +
            "\n" +
            "Body\n",
            file);
    }

    [Fact]
    public void Quotes_backslashes_and_line_breaks_are_escaped_in_the_front_matter()
    {
        var createdAt = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);
        var file = NoteLayout.Render(
            new NoteContent("Body"),
            "Say \"hi\" to C:\\temp",
            "inbox",
            ["a\"b", "c\\d"],
            createdAt,
            "Jane\r\nDoe\tthe \u0001st",
            OperationId);

        var lines = file.Split('\n');
        Assert.Equal("title: \"Say \\\"hi\\\" to C:\\\\temp\"", lines[1]);
        Assert.Equal("tags: [\"a\\\"b\", \"c\\\\d\"]", lines[3]);
        Assert.Equal("author: \"Jane\\r\\nDoe\\tthe \\u0001st\"", lines[5]);
        Assert.Equal("operation_id: 0b9d7a3e-5f2c-4c1a-9e8d-2a6b4c3d1e0f", lines[6]);
        Assert.Equal("---", lines[7]);
    }

    [Fact]
    public void A_title_with_a_line_break_stays_on_one_front_matter_line()
    {
        var createdAt = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);
        var file = NoteLayout.Render(new NoteContent("Body"), "one\ntwo", "inbox", [], createdAt, "bob", OperationId);

        Assert.StartsWith("---\ntitle: \"one\\ntwo\"\ncategory: inbox\n", file, StringComparison.Ordinal);
    }

    [Fact]
    public void The_text_of_a_note_file_has_unix_line_endings_and_no_surrounding_blank_lines()
    {
        var createdAt = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);
        var file = NoteLayout.Render(new NoteContent("\r\n\r\nLine one\r\nLine two\rLine three\r\n\r\n  "), "t", "inbox", [], createdAt, "bob", OperationId);

        Assert.EndsWith("---\n\nLine one\nLine two\nLine three\n", file, StringComparison.Ordinal);
        Assert.DoesNotContain('\r', file);
    }

    [Fact]
    public void Rendering_is_the_same_for_the_same_request()
    {
        var createdAt = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);
        var note = new NoteContent("Body", Tags: ["x"]);
        Assert.Equal(
            NoteLayout.Render(note, "t", "inbox", ["x"], createdAt, "bob", OperationId),
            NoteLayout.Render(note, "t", "inbox", ["x"], createdAt, "bob", OperationId));
    }

    // ---- The month's index file, its lines and its link in index.md ----

    [Fact]
    public void An_index_line_links_the_note_from_the_month_index_with_its_date_and_category()
    {
        var createdAt = new DateTimeOffset(2026, 3, 14, 9, 0, 0, TimeSpan.Zero);
        Assert.Equal(
            "- [My note](../topics/tech/dotnet/2026-03-14-my-note.md) - 2026-03-14 - `tech/dotnet`",
            NoteLayout.IndexLine("My note", "topics/tech/dotnet/2026-03-14-my-note.md", createdAt, "tech/dotnet"));
    }

    [Fact]
    public void The_date_in_an_index_line_is_the_utc_date()
    {
        var createdAt = new DateTimeOffset(2026, 3, 1, 1, 30, 0, TimeSpan.FromHours(5));
        Assert.Equal(
            "- [n](../topics/inbox/2026-02-28-n.md) - 2026-02-28 - `inbox`",
            NoteLayout.IndexLine("n", "topics/inbox/2026-02-28-n.md", createdAt, "inbox"));
    }

    [Theory]
    [InlineData("[draft] notes", "\\[draft\\] notes")]
    [InlineData("a]b[c", "a\\]b\\[c")]
    [InlineData("back\\slash", "back\\\\slash")]
    [InlineData("evil](http://x) [y", "evil\\](http://x) \\[y")]
    public void Brackets_and_backslashes_in_an_index_title_are_escaped(string title, string expectedLinkText)
    {
        var createdAt = new DateTimeOffset(2026, 3, 14, 0, 0, 0, TimeSpan.Zero);
        Assert.Equal(
            $"- [{expectedLinkText}](../topics/inbox/2026-03-14-x.md) - 2026-03-14 - `inbox`",
            NoteLayout.IndexLine(title, "topics/inbox/2026-03-14-x.md", createdAt, "inbox"));
    }

    [Fact]
    public void A_note_is_indexed_in_the_file_of_its_utc_month()
    {
        Assert.Equal("index/2026-02.md", NoteLayout.MonthIndexPath(new DateTimeOffset(2026, 3, 1, 1, 30, 0, TimeSpan.FromHours(5))));
        Assert.Equal("index/2026-12.md", NoteLayout.MonthIndexPath(new DateTimeOffset(2026, 12, 31, 23, 59, 59, TimeSpan.Zero)));
    }

    [Fact]
    public void Index_md_links_a_month_by_its_file()
    {
        var createdAt = new DateTimeOffset(2026, 11, 29, 0, 0, 0, TimeSpan.Zero);
        Assert.Equal("- [2026-11](index/2026-11.md)", NoteLayout.MonthLink(createdAt));
        Assert.Equal("# Notes of 2026-11", NoteLayout.MonthHeading(createdAt));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    public void The_first_line_starts_a_new_file_with_its_heading(string? file)
    {
        Assert.Equal("# Notes of 2026-11\n\n- line\n", NoteLayout.AppendLine(file, "# Notes of 2026-11", "- line"));
    }

    [Fact]
    public void A_line_is_appended_after_a_file_ending_with_a_newline()
    {
        Assert.Equal("# Index\n\n- one\n- two\n", NoteLayout.AppendLine("# Index\n\n- one\n", NoteLayout.IndexHeading, "- two"));
    }

    [Fact]
    public void A_line_is_appended_on_its_own_line_after_a_file_without_a_final_newline()
    {
        Assert.Equal("# Index\n\n- one\n- two\n", NoteLayout.AppendLine("# Index\n\n- one", NoteLayout.IndexHeading, "- two"));
    }

    [Fact]
    public void Appending_keeps_what_a_user_wrote_in_the_file()
    {
        const string index = "# My own index\n\nIntro text.\n\n- old\n";
        Assert.Equal(index + "- new\n", NoteLayout.AppendLine(index, NoteLayout.IndexHeading, "- new"));
    }

    // ---- ContentHash ----

    [Fact]
    public void Content_hash_is_64_lowercase_hex_characters()
    {
        Assert.Matches("^[0-9a-f]{64}$", NoteLayout.ContentHash("Some note"));
    }

    [Fact]
    public void Content_hash_is_the_sha256_of_the_normalized_text()
    {
        // sha256("Hello\nWorld"), computed with python3 hashlib
        Assert.Equal("35c6b9f66dceb6cf8f733d08689564e420e18eb40250d9435352617c027f36d6", NoteLayout.ContentHash("Hello\r\nWorld\r\n"));
    }

    [Theory]
    [InlineData("Hello\r\nWorld")]
    [InlineData("Hello\nWorld\n")]
    [InlineData("Hello\nWorld  \n\n\t")]
    [InlineData("\n\nHello\nWorld")]
    [InlineData("Hello\rWorld")]
    public void Content_hash_ignores_line_endings_and_surrounding_whitespace(string text)
    {
        Assert.Equal(NoteLayout.ContentHash("Hello\nWorld"), NoteLayout.ContentHash(text));
    }

    [Theory]
    [InlineData("Hello\nworld")]
    [InlineData("Hello\n\nWorld")]
    [InlineData("Hello World")]
    [InlineData("Hello\nWorld!")]
    public void Different_texts_have_different_content_hashes(string text)
    {
        Assert.NotEqual(NoteLayout.ContentHash("Hello\nWorld"), NoteLayout.ContentHash(text));
    }

    private static int IndexOfLoneSurrogate(string value)
    {
        for (var i = 0; i < value.Length; i++)
        {
            if (char.IsHighSurrogate(value[i]) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(value[i]))
            {
                return i;
            }
        }

        return -1;
    }
}

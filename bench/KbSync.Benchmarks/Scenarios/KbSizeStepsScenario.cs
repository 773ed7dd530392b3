using System.Diagnostics;
using System.Globalization;
using System.Text;
using KbSync.Benchmarks.Infrastructure;
using KbSync.Benchmarks.Reporting;
using LibGit2Sharp;

namespace KbSync.Benchmarks.Scenarios;

/// <summary>
/// Diagnostic for <c>kb-size</c>: the git calls the worker made for one note up to run
/// 20261129-074416 (loose objects, libgit2's push; LibGit2KbClone now builds objects in memory, saves
/// one pack per group and pushes local remotes itself), made here in-process on a bare clone of each
/// seeded KB and timed one by one. Kept for libgit2's push, which network remotes still use: it shows
/// which part of pull / process / commit / push grows with the KB.
/// No broker, no database, no worker process. The packing of the new objects is also timed on its
/// own (libgit2's own calls, see <see cref="NativePackWalk"/>), besides the push itself.
/// </summary>
public sealed class KbSizeStepsScenario : IScenario
{
    private const string Branch = "main";
    private const string LocalRef = "refs/heads/" + Branch;
    private const string RemoteRef = "refs/remotes/origin/" + Branch;

    private static readonly string[] Steps =
    [
        "pull: fetch (nothing new) + move branch",
        "process: month index lookup + inflate (raw bytes)",
        "process: month index as text (worker's GetContentText)",
        "process: render note + append line (strings)",
        "commit: note blob",
        "commit: month index blob (deflate, loose object)",
        "commit: trees (From + Add + CreateTree)",
        "commit: commit object + branch ref",
        "push: worker's Network.Push (walk, pack, send, index, ref)",
        PartOfPush + "object walk (revwalk + insert_walk)",
        PartOfPush + "pack the walked objects (write_buf)",
    ];

    /// <summary>Rows timed again separately (the first half of a push, see <see cref="NativePackWalk"/>), not added to the total.</summary>
    private const string PartOfPush = "  of which, timed apart: ";

    public string Name => "kb-size-steps";

    public string Description => "diagnostic: the worker's git calls for one note timed one by one, in-process with LibGit2Sharp (no broker, no database)";

    public bool Diagnostic => true;

    public async Task RunAsync(BenchContext context, CancellationToken cancellationToken)
    {
        var options = context.Options;
        var folder = Path.Combine(context.RunFolder, "tmp", Name);
        var kbs = new List<StepKb>();
        // as the worker sets libgit2 (KbWorker/Git/LibGit2Settings.cs)
        GlobalSettings.SetEnableStrictObjectCreation(false);
        GlobalSettings.SetStrictHashVerification(false);
        try
        {
            foreach (var size in options.Sizes.Distinct().Order())
            {
                var id = $"size-{size}";
                var seeded = await KbSeeder.SeedAsync(Path.Combine(folder, "remotes", id + ".git"), size, seed: size, IndexLayout.Monthly, cancellationToken);
                kbs.Add(StepKb.Clone(id, size, seeded, Path.Combine(folder, "clones", id + ".git")));
                Report.Progress($"{Name}: seeded and cloned {id}");
            }

            var loadBefore = MachineInfo.LoadAverage();
            var samples = new List<StepSample>();
            for (var round = 1 - options.Warmup; round <= options.Notes; round++)
            {
                for (var j = 0; j < kbs.Count; j++)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var kb = kbs[(Math.Abs(round) + j) % kbs.Count];
                    var sample = kb.WriteNote(context.RunId);
                    if (round >= 1)
                    {
                        samples.Add(sample);
                    }
                }
            }

            Print(context, kbs, samples);
            WriteCsv(context.ResultPath(Name, "steps.csv"), samples);
            context.Report.WriteLine($"Load average (1, 5, 15 min) before: {loadBefore}; after: {MachineInfo.LoadAverage()}.");
        }
        finally
        {
            foreach (var kb in kbs)
            {
                kb.Dispose();
            }

            if (!options.Keep && Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }
        }
    }

    private void Print(BenchContext context, List<StepKb> kbs, List<StepSample> samples)
    {
        var report = context.Report;
        report.WriteLine($"== {Name} (diagnostic) ==");
        report.WriteLine("The worker's git calls for one note (LibGit2KbClone + NoteWriter), made in-process with the same");
        report.WriteLine($"LibGit2Sharp on a bare clone of each seeded KB, timed one by one; {context.Options.Notes} notes per KB after");
        report.WriteLine($"{context.Options.Warmup} warm-up(s), sizes round-robin. The push's object walk and packing (libgit2's own calls) are made");
        report.WriteLine("again on its own before the push, so they are part of the push row, not added to the total. Times in ms.");
        report.WriteLine();

        var smallest = kbs[0];
        var headers = new List<string> { $"ms, median (p95) of {context.Options.Notes}" };
        headers.AddRange(kbs.Select(kb => $"{kb.Files:N0} files"));
        headers.AddRange(kbs.Skip(1).Select(kb => $"{kb.Files:N0}/{smallest.Files:N0}"));
        var table = new TextTable([.. headers]);
        void Add(string name, Func<StepSample, double> value)
        {
            var summaries = kbs.Select(kb => Summary.Of(samples.Where(s => s.Kb == kb).Select(value))).ToList();
            var cells = new List<string> { name };
            cells.AddRange(summaries.Select(s => $"{s.Median:N1} ({s.P95:N1})"));
            cells.AddRange(summaries.Skip(1).Select(s => $"{s.Median / summaries[0].Median:N2}x"));
            table.Row([.. cells]);
        }

        foreach (var step in Steps)
        {
            Add(step, s => s.Ms[step]);
            if (step.StartsWith("pull", StringComparison.Ordinal) || step.StartsWith("process: render", StringComparison.Ordinal) || step.StartsWith("commit: commit", StringComparison.Ordinal) || step.Contains("write_buf", StringComparison.Ordinal))
            {
                table.Rule();
            }
        }

        Add("total (without the rows timed apart)", s => s.Ms.Where(m => !m.Key.StartsWith(PartOfPush, StringComparison.Ordinal)).Sum(m => m.Value));
        report.Write(table.ToString());
        report.WriteLine();

        var sizes = new TextTable(["bytes per note, median", .. kbs.Select(kb => $"{kb.Files:N0} files")]);
        void Bytes(string name, Func<StepSample, double> value) =>
            sizes.Row([name, .. kbs.Select(kb => Summary.Of(samples.Where(s => s.Kb == kb).Select(value)).Median.ToString("N0", CultureInfo.InvariantCulture))]);
        Bytes("month index (whole file rewritten per note)", s => s.IndexBytes);
        Bytes("month index loose object (deflated)", s => s.IndexLooseBytes);
        Bytes("category tree object (rewritten per note)", s => s.CategoryTreeBytes);
        Bytes("pack sent by the push", s => s.PackBytes);
        Bytes("objects in that pack", s => s.PackObjects);
        report.Write(sizes.ToString());
    }

    private static void WriteCsv(string path, List<StepSample> samples)
    {
        var csv = new StringBuilder("kb_id,files,note," + string.Join(',', Steps.Select(s => "\"" + s + "\"")) + ",index_bytes,index_loose_bytes,category_tree_bytes,pack_bytes,pack_objects\n");
        foreach (var s in samples)
        {
            csv.AppendJoin(',', [s.Kb.Id, s.Kb.Files.ToString(CultureInfo.InvariantCulture), s.Note.ToString(CultureInfo.InvariantCulture),
                .. Steps.Select(step => s.Ms[step].ToString("0.###", CultureInfo.InvariantCulture)),
                s.IndexBytes.ToString(CultureInfo.InvariantCulture), s.IndexLooseBytes.ToString(CultureInfo.InvariantCulture),
                s.CategoryTreeBytes.ToString(CultureInfo.InvariantCulture), s.PackBytes.ToString(CultureInfo.InvariantCulture), s.PackObjects.ToString(CultureInfo.InvariantCulture)]);
            csv.Append('\n');
        }

        File.WriteAllText(path, csv.ToString());
    }

    private sealed record StepSample(StepKb Kb, int Note, Dictionary<string, double> Ms, long IndexBytes, long IndexLooseBytes, long CategoryTreeBytes, long PackBytes, long PackObjects);

    /// <summary>A bare clone made and used as the worker does (LibGit2KbClone, KbClones).</summary>
    private sealed class StepKb : IDisposable
    {
        private readonly Repository _repository;
        private readonly NoteText _text;
        private readonly Signature _committer = new("KbSync worker bench", "kbsync@worker.invalid", DateTimeOffset.UtcNow);
        private int _sent;

        private StepKb(string id, int files, Repository repository, NoteText text)
        {
            Id = id;
            Files = files;
            _repository = repository;
            _text = text;
        }

        public string Id { get; }
        public int Files { get; }

        public static StepKb Clone(string id, int files, SeededKb seeded, string path)
        {
            Directory.CreateDirectory(path);
            Repository.Init(path, isBare: true);
            var repository = new Repository(path);
            repository.Network.Remotes.Add("origin", seeded.RemotePath, $"+{LocalRef}:{RemoteRef}");
            var kb = new StepKb(id, files, repository, new NoteText(7919 * files + 1));
            kb.Fetch();
            return kb;
        }

        public StepSample WriteNote(string runId)
        {
            var ms = new Dictionary<string, double>();
            var clock = Stopwatch.StartNew();
            double Lap()
            {
                var elapsed = clock.Elapsed.TotalMilliseconds;
                clock.Restart();
                return elapsed;
            }

            // pull: as LibGit2KbClone.SyncAsync (the trailer catch-up reads one commit: left out)
            Fetch();
            var tip = _repository.Lookup<Commit>(_repository.Refs[LocalRef]!.ResolveToDirectReference().TargetIdentifier);
            ms[Steps[0]] = Lap();

            // process: NoteWriter.Apply reads the month's index through ReadText (GetContentText with filters)
            var monthIndex = $"index/{DateTime.UtcNow:yyyy-MM}.md";
            var indexBlob = (Blob)tip[monthIndex].Target;
            using (var raw = indexBlob.GetContentStream())
            {
                raw.CopyTo(Stream.Null);
            }

            ms[Steps[1]] = Lap();
            var index = indexBlob.GetContentText(new FilteringOptions(monthIndex));
            ms[Steps[2]] = Lap();
            var sequence = ++_sent;
            var category = _text.Category(sequence);
            var title = $"Bench note {sequence} {_text.Title(3)}";
            var path = $"topics/{category}/{DateTime.UtcNow:yyyy-MM-dd}-{NoteText.Slugify(title)}.md";
            var note = $"---\ntitle: \"{title}\"\ncategory: {category}\ntags: [\"bench\"]\ncreated_at: {DateTime.UtcNow:yyyy-MM-ddTHH:mm:ssZ}\nauthor: \"kbsync-bench\"\noperation_id: {Guid.NewGuid():D}\n---\n\nNote {sequence} of run {runId}.\n\n{_text.Body()}\n";
            var line = $"- [{title}](../{path}) - {DateTime.UtcNow:yyyy-MM-dd} - `{category}`";
            var newIndex = index.EndsWith('\n') ? index + line + "\n" : index + "\n" + line + "\n";
            ms[Steps[3]] = Lap();

            // commit: LibGit2KbClone.Commit
            var noteBlob = CreateBlob(note);
            ms[Steps[4]] = Lap();
            var newIndexBlob = CreateBlob(newIndex);
            ms[Steps[5]] = Lap();
            var definition = TreeDefinition.From(tip.Tree);
            definition.Add(path, noteBlob, Mode.NonExecutableFile);
            definition.Add(monthIndex, newIndexBlob, Mode.NonExecutableFile);
            var tree = _repository.ObjectDatabase.CreateTree(definition);
            ms[Steps[6]] = Lap();
            var commit = _repository.ObjectDatabase.CreateCommit(
                new Signature("kbsync-bench", "kbsync-bench@users.kbsync.invalid", DateTimeOffset.UtcNow),
                new Signature(_committer.Name, _committer.Email, DateTimeOffset.UtcNow),
                $"Add note: {title}\n\nKbSync-Operation: {Guid.NewGuid():D}\n", tree, [tip], prettifyMessage: false);
            _repository.Refs.Add(LocalRef, commit.Id, allowOverwrite: true);
            ms[Steps[7]] = Lap();

            // the push: first its object walk and packing alone (libgit2's calls), then the worker's Network.Push
            var walked = NativePackWalk.Measure(_repository.Info.Path, commit.Sha, tip.Sha);
            Lap();
            _repository.Network.Push(_repository.Network.Remotes["origin"], $"{LocalRef}:{LocalRef}", new PushOptions());
            ms[Steps[8]] = Lap();
            ms[Steps[9]] = walked.WalkMs;
            ms[Steps[10]] = walked.PackMs;
            var categoryTree = (Tree)tree[$"topics/{category}"].Target;

            var loose = Path.Combine(_repository.Info.Path, "objects", newIndexBlob.Sha[..2], newIndexBlob.Sha[2..]);
            return new StepSample(this, sequence, ms, newIndexBlob.Size, File.Exists(loose) ? new FileInfo(loose).Length : 0, TreeBytes(categoryTree), walked.PackBytes, walked.Objects);
        }

        public void Dispose() => _repository.Dispose();

        private long TreeBytes(Tree tree) => _repository.ObjectDatabase.RetrieveObjectMetadata(tree.Id).Size;

        private Blob CreateBlob(string content)
        {
            using var stream = new MemoryStream(Encoding.UTF8.GetBytes(content));
            return _repository.ObjectDatabase.CreateBlob(stream);
        }

        private void Fetch()
        {
            Commands.Fetch(_repository, "origin", [$"+{LocalRef}:{RemoteRef}"], new FetchOptions { Prune = true, TagFetchMode = TagFetchMode.None }, logMessage: null);
            var head = _repository.Refs[RemoteRef]!.ResolveToDirectReference().TargetIdentifier;
            _repository.Refs.Add(LocalRef, new ObjectId(head), allowOverwrite: true);
        }
    }
}

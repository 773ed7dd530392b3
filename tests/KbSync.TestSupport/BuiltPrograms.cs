namespace KbSync.TestSupport;

/// <summary>
/// The product's programs where the solution build leaves them: every project builds into
/// <c>artifacts/bin/&lt;project&gt;/&lt;configuration&gt;/</c> (UseArtifactsOutput in Directory.Build.props),
/// so a test or benchmark program finds them beside its own output folder, in the same configuration.
/// </summary>
public static class BuiltPrograms
{
    /// <summary>The worker, <c>artifacts/bin/KbSync.KbWorker/&lt;configuration&gt;/kbworker.dll</c>.</summary>
    public static string Worker => Beside("KbSync.KbWorker", "kbworker.dll");

    /// <summary>The CLI and API, <c>artifacts/bin/KbSync.Producer/&lt;configuration&gt;/kbsync.dll</c>.</summary>
    public static string Cli => Beside("KbSync.Producer", "kbsync.dll");

    /// <summary><c>artifacts/bin/&lt;project&gt;/&lt;configuration&gt;/&lt;file&gt;</c> for the configuration this program was built in (whether or not it exists).</summary>
    public static string Beside(string project, string file)
    {
        var own = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        return Path.Combine(own.Parent!.Parent!.FullName, project, own.Name, file);
    }

    /// <summary><paramref name="path"/> itself, or a <see cref="FileNotFoundException"/> that says to build the solution first.</summary>
    public static string Existing(string path) =>
        File.Exists(path) ? path : throw new FileNotFoundException($"{path} is not built: build the solution first (./dev build).", path);
}

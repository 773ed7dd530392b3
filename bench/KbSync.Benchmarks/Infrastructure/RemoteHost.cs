namespace KbSync.Benchmarks.Infrastructure;

/// <summary>
/// How the issue #6 scenarios reach their remotes. <c>local</c>: a bare repository on the same disk,
/// given to the worker and to git as a path (no network, no HTTP). <c>+N ms</c>: the same kind of
/// bare repository served over smart HTTP by <see cref="GitHttpServer"/> (<c>git http-backend</c> per
/// request), which waits <see cref="Latency"/> before answering every HTTP request. A fetch or a push
/// is one or two HTTP requests (the ref advertisement, then the pack exchange; a fetch that finds
/// nothing new stops after the first), so it costs about one to two times the latency extra.
/// </summary>
public sealed record RemoteCondition(string Name, TimeSpan? Latency)
{
    public bool OverHttp => Latency is not null;

    public static IReadOnlyList<RemoteCondition> Both(int latencyMs) =>
        [new("local", null), new($"+{latencyMs} ms", TimeSpan.FromMilliseconds(latencyMs))];
}

/// <summary>Bare remotes under one folder, seeded with <see cref="KbSeeder"/>, served over HTTP when the condition asks for it.</summary>
public sealed class RemoteHost : IAsyncDisposable
{
    private readonly GitHttpServer? _server;

    public RemoteHost(string folder, RemoteCondition condition)
    {
        Folder = folder;
        Condition = condition;
        Directory.CreateDirectory(folder);
        if (condition.Latency is { } latency)
        {
            _server = new GitHttpServer(folder) { Latency = latency };
        }
    }

    public string Folder { get; }
    public RemoteCondition Condition { get; }

    /// <summary>Seeds <c>&lt;id&gt;.git</c> with <paramref name="files"/> notes indexed as <paramref name="layout"/> says; returns its URL (or path) and what it holds.</summary>
    public async Task<(string Url, SeededKb Seeded)> CreateAsync(string id, int files, int seed, IndexLayout layout, CancellationToken cancellationToken)
    {
        var path = Path.Combine(Folder, id + ".git");
        var seeded = await KbSeeder.SeedAsync(path, files, seed, layout, cancellationToken);
        if (_server is null)
        {
            return (path, seeded);
        }

        await ProcessRunner.CheckedAsync("git", ["-C", path, "config", "http.receivepack", "true"], cancellationToken: cancellationToken);
        return (_server.Url(id), seeded);
    }

    /// <summary>The path of the bare repository behind <paramref name="id"/>.</summary>
    public string PathOf(string id) => Path.Combine(Folder, id + ".git");

    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}

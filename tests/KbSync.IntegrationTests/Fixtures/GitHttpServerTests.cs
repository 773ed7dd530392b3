using System.Diagnostics;
using LibGit2Sharp;
using Xunit.Abstractions;

namespace KbSync.IntegrationTests.Fixtures;

/// <summary>
/// The smart-HTTP test server works with the client the product uses (LibGit2Sharp), and pins the
/// errors libgit2 reports over HTTP: the product maps those messages to reason codes.
/// </summary>
public sealed class GitHttpServerTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly Signature Author = new("Test Author", "author@example.com", DateTimeOffset.UnixEpoch);
    private readonly TempFolder _temp = new("kbsync-git-http-tests");
    private GitHttpServer _server = null!;

    public Task InitializeAsync()
    {
        _server = new GitHttpServer(_temp.Combine("remotes"));
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        _temp.Dispose();
    }

    [Fact]
    public void A_clone_and_a_push_over_http_work()
    {
        var remote = _server.CreateRepository("kb");
        using var writer = NewWorkingRepository("writer", _server.Url("kb"));
        var pushed = CommitFile(writer, "note.md", "hello over http\n");

        Push(writer);

        Assert.Equal(pushed.Sha, remote.Open().Commits().Single().Sha);
        using var reader = NewWorkingRepository("reader", remote.Url);
        Fetch(reader);
        Assert.Equal(pushed.Sha, reader.Refs["refs/remotes/origin/main"]?.TargetIdentifier);
        var clonePath = Repository.Clone(remote.Url, _temp.Combine("work", "clone"));
        using var clone = new Repository(clonePath);
        Assert.Equal(pushed.Sha, clone.Head.Tip?.Sha);
        Assert.Equal("hello over http\n", File.ReadAllText(Path.Combine(clone.Info.WorkingDirectory, "note.md")));
        Assert.Contains(_server.RequestLog, r => r.StartsWith("POST /kb.git/git-receive-pack", StringComparison.Ordinal));
        Assert.Contains(_server.RequestLog, r => r.StartsWith("POST /kb.git/git-upload-pack", StringComparison.Ordinal));
        Log($"libgit2 {GlobalSettings.Version}");
        Log("requests: " + string.Join(" | ", _server.Requests.Select(r => $"{r.Method} {r.PathAndQuery} [{string.Join(", ", r.Headers.Select(h => h.Key + "=" + h.Value))}]")));
    }

    [Fact]
    public void Several_clients_push_and_fetch_in_parallel()
    {
        var names = Enumerable.Range(1, 6).Select(i => $"kb{i}").ToArray();
        foreach (var name in names)
        {
            _server.CreateRepository(name);
        }

        _server.Latency = TimeSpan.FromMilliseconds(20);
        Parallel.ForEach(names, new ParallelOptions { MaxDegreeOfParallelism = names.Length }, name =>
        {
            using var writer = NewWorkingRepository("writer-" + name, _server.Url(name));
            var sha = "";
            for (var i = 0; i < 3; i++)
            {
                sha = CommitFile(writer, $"note{i}.md", $"{name} {i}\n").Sha;
                Push(writer);
            }

            using var reader = NewWorkingRepository("reader-" + name, _server.Url(name));
            Fetch(reader);
            Assert.Equal(sha, reader.Refs["refs/remotes/origin/main"]?.TargetIdentifier);
        });
    }

    [Fact]
    public void A_token_is_sent_as_basic_auth_and_a_wrong_one_is_refused()
    {
        const string token = "s3cret-token-value";
        var remote = _server.CreateRepository("kb");
        _server.RequireToken("x-access-token", token);
        using var writer = NewWorkingRepository("writer", _server.Url("kb"));
        CommitFile(writer, "note.md", "one\n");

        var asked = 0;
        Push(writer, new PushOptions
        {
            CredentialsProvider = (_, _, types) =>
            {
                asked++;
                Assert.True(types.HasFlag(SupportedCredentialTypes.UsernamePassword));
                return new UsernamePasswordCredentials { Username = "x-access-token", Password = token };
            },
        });

        Assert.True(_server.AuthorizationHeaderCount > 0);
        Assert.All(_server.Requests, r => Assert.DoesNotContain(token, r.PathAndQuery, StringComparison.Ordinal));
        Assert.All(_server.Requests.Where(r => r.HasAuthorization), r => Assert.Equal("Basic", r.AuthorizationScheme));
        Log($"right token: credentials asked {asked}x; requests: {string.Join(" | ", _server.Requests.Select(r => $"{r.Method} {r.PathAndQuery} auth={r.HasAuthorization}"))}");

        CommitFile(writer, "note.md", "two\n");
        _server.ClearLog();
        var wrongAsked = 0;
        var wrong = Assert.ThrowsAny<LibGit2SharpException>(() => Push(writer, new PushOptions
        {
            CredentialsProvider = (_, _, _) =>
            {
                wrongAsked++;
                return new UsernamePasswordCredentials { Username = "x-access-token", Password = "wrong" };
            },
        }));
        Log($"wrong token push: {Describe(wrong)}; credentials asked {wrongAsked}x over {_server.RequestLog.Count} requests");
        Assert.Equal("too many redirects or authentication replays", wrong.Message);
        Assert.Equal(typeof(LibGit2SharpException), wrong.GetType());
        Assert.DoesNotContain(_server.RequestLog, r => r.StartsWith("POST", StringComparison.Ordinal));

        var none = Assert.ThrowsAny<LibGit2SharpException>(() => Push(writer));
        Log($"no credentials provider push: {Describe(none)}");
        Assert.Equal("remote authentication required but no callback set", none.Message);

        // what the worker hands libgit2 when it has no token
        var defaults = Assert.ThrowsAny<LibGit2SharpException>(() => Push(writer, new PushOptions { CredentialsProvider = (_, _, _) => new DefaultCredentials() }));
        Log($"DefaultCredentials push: {Describe(defaults)}");
        Assert.Equal("could not find appropriate mechanism for credentials", defaults.Message);

        using var reader = NewWorkingRepository("reader", _server.Url("kb"));
        var wrongFetch = Assert.ThrowsAny<LibGit2SharpException>(() => Fetch(reader, new FetchOptions
        {
            CredentialsProvider = (_, _, _) => new UsernamePasswordCredentials { Username = "x-access-token", Password = "wrong" },
        }));
        Log($"wrong token fetch: {Describe(wrongFetch)}");
        Assert.Equal("too many redirects or authentication replays", wrongFetch.Message);
        var noneFetch = Assert.ThrowsAny<LibGit2SharpException>(() => Fetch(reader));
        Log($"no credentials provider fetch: {Describe(noneFetch)}");
        Assert.Equal("remote authentication required but no callback set", noneFetch.Message);

        Assert.Single(remote.Open().Commits());
        Assert.All(_server.Requests, r => Assert.DoesNotContain(token, r.PathAndQuery, StringComparison.Ordinal));

        _server.RequireToken(null, null);
        Fetch(reader);
        Assert.NotNull(reader.Refs["refs/remotes/origin/main"]);
    }

    [Fact]
    public async Task A_pre_receive_hook_can_refuse_a_push()
    {
        var remote = _server.CreateRepository("kb");
        _server.InstallPreReceiveHook("kb", "echo \"refusing: protected\"; exit 1");
        using var writer = NewWorkingRepository("writer", _server.Url("kb"));
        CommitFile(writer, "note.md", "refused\n");

        var errors = new List<PushStatusError>();
        var thrown = Record.Exception(() => Push(writer, new PushOptions { OnPushStatusError = errors.Add }));
        Log($"with OnPushStatusError: thrown={Describe(thrown)}; status errors={string.Join(" | ", errors.Select(e => $"{e.Reference}: {e.Message}"))}");

        var thrownWithoutHandler = Record.Exception(() => Push(writer));
        Log($"without OnPushStatusError: thrown={Describe(thrownWithoutHandler)}");
        Log("backend stderr: " + string.Join(" | ", _server.BackendErrors));

        // the refusal is reported per ref, not thrown; without a handler LibGit2Sharp drops it silently.
        // The hook's own output ("refusing: protected") reaches neither: PushOptions has no sideband callback
        Assert.Null(thrown);
        var refused = Assert.Single(errors);
        Assert.Equal("refs/heads/main", refused.Reference);
        Assert.Equal("pre-receive hook declined", refused.Message);
        Assert.Null(thrownWithoutHandler);
        Assert.Empty(remote.Open().Commits());

        // the hook's output does go out on the sideband: the git CLI shows it
        var (exitCode, cliOutput) = await GitCli.RunAsync(writer.Info.WorkingDirectory, "push", "origin", "main:main");
        Log($"git push: exit {exitCode}: {cliOutput}");
        Assert.NotEqual(0, exitCode);
        Assert.Contains("remote: refusing: protected", cliOutput, StringComparison.Ordinal);
        Assert.Contains("pre-receive hook declined", cliOutput, StringComparison.Ordinal);
    }

    [Fact]
    public void Latency_is_added_to_each_request()
    {
        _server.CreateRepository("kb");
        using var writer = NewWorkingRepository("writer", _server.Url("kb"));
        using var reader = NewWorkingRepository("reader", _server.Url("kb"));
        CommitFile(writer, "note.md", "one\n");
        Push(writer);
        Fetch(reader); // warm up

        CommitFile(writer, "note.md", "two\n");
        Push(writer);
        var quick = Stopwatch.StartNew();
        Fetch(reader);
        quick.Stop();

        CommitFile(writer, "note.md", "three\n");
        Push(writer);
        _server.Latency = TimeSpan.FromMilliseconds(200);
        _server.ClearLog();
        var slow = Stopwatch.StartNew();
        Fetch(reader);
        slow.Stop();
        var requests = _server.RequestLog.Count;

        Log($"fetch without latency {quick.ElapsedMilliseconds} ms, with 200 ms latency {slow.ElapsedMilliseconds} ms over {requests} request(s)");
        Assert.Equal(2, requests); // info/refs, then upload-pack
        Assert.True(slow.Elapsed - quick.Elapsed >= TimeSpan.FromMilliseconds(200), $"{slow.ElapsedMilliseconds} ms vs {quick.ElapsedMilliseconds} ms");
        Assert.Equal(writer.Head.Tip.Sha, reader.Refs["refs/remotes/origin/main"]?.TargetIdentifier);
    }

    [Fact]
    public async Task A_silent_server_never_answers()
    {
        _server.CreateRepository("kb");
        using var reader = NewWorkingRepository("reader", _server.Url("kb"));
        _server.Silent = true;

        var fetching = Task.Factory.StartNew(() => Fetch(reader), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        using var raw = new System.Net.Sockets.TcpClient();
        await raw.ConnectAsync(System.Net.IPAddress.Loopback, _server.Port);
        var stream = raw.GetStream();
        await stream.WriteAsync("GET /kb.git/info/refs?service=git-upload-pack HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"u8.ToArray());
        var answer = new byte[256];
        var rawRead = stream.ReadAsync(answer).AsTask();
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.False(fetching.IsCompleted, "the fetch ended although the server never answered: " + Describe(fetching.Exception?.InnerException));
        Assert.False(rawRead.IsCompleted, "the server answered");
        Assert.Equal(2, _server.RequestLog.Count);

        // turned off, new requests are answered again; those already hanging stay hung
        _server.Silent = false;
        using var other = NewWorkingRepository("other", _server.Url("kb"));
        Fetch(other);
        Assert.False(fetching.IsCompleted);

        var disposing = Stopwatch.StartNew();
        await _server.DisposeAsync();
        Log($"dispose took {disposing.ElapsedMilliseconds} ms");
        var ended = await Task.WhenAny(fetching, Task.Delay(TimeSpan.FromSeconds(10)));
        Assert.Same(fetching, ended);
        var error = fetching.Exception?.InnerException;
        Log($"fetch after dispose: {Describe(error)}");
        Assert.Equal(typeof(LibGit2SharpException), error?.GetType());
        Assert.Equal("unexpected EOF", error?.Message);

        // on the wire: the connection is closed without a byte of answer
        var rawEnded = await Task.WhenAny(rawRead, Task.Delay(TimeSpan.FromSeconds(10)));
        Assert.Same(rawRead, rawEnded);
        try
        {
            var bytes = await rawRead;
            Log($"raw connection after dispose: closed after {bytes} bytes: {System.Text.Encoding.ASCII.GetString(answer, 0, bytes)}");
            Assert.Equal(0, bytes);
        }
        catch (IOException reset)
        {
            Log($"raw connection after dispose: {Describe(reset)}");
        }
    }

    [Fact]
    public void A_non_fast_forward_push_over_http_throws_NonFastForwardException_before_sending_anything()
    {
        var remote = _server.CreateRepository("kb");
        using (var seed = NewWorkingRepository("seed", remote.Url))
        {
            CommitFile(seed, "base.md", "base\n");
            Push(seed);
        }

        using var first = Clone("first", remote.Url);
        using var second = Clone("second", remote.Url);
        CommitFile(first, "first.md", "first\n");
        Push(first);
        CommitFile(second, "second.md", "second\n");

        _server.ClearLog();

        var errors = new List<PushStatusError>();
        var unknown = Record.Exception(() => Push(second, new PushOptions { OnPushStatusError = errors.Add }));
        Log($"second push, remote tip unknown locally: thrown={Describe(unknown)}; status errors={string.Join(" | ", errors.Select(e => $"{e.Reference}: {e.Message}"))}");
        Assert.IsType<NonFastForwardException>(unknown);
        Assert.Equal("cannot push because a reference that you are trying to update on the remote contains commits that are not present locally.", unknown.Message);

        Fetch(second); // now the remote tip is known locally, but not merged
        var known = Record.Exception(() => Push(second, new PushOptions { OnPushStatusError = errors.Add }));
        Log($"second push, remote tip fetched: thrown={Describe(known)}; status errors={string.Join(" | ", errors.Select(e => $"{e.Reference}: {e.Message}"))}");
        Assert.IsType<NonFastForwardException>(known);
        Assert.Equal("cannot push non-fastforwardable reference", known.Message);

        Assert.Empty(errors);
        Assert.DoesNotContain(_server.RequestLog, r => r.StartsWith("POST /kb.git/git-receive-pack", StringComparison.Ordinal));
        Assert.Equal(2, remote.Open().Commits().Count);
    }

    [Fact]
    public async Task When_two_pushes_race_over_http_the_loser_gets_a_status_error_not_an_exception()
    {
        var remote = _server.CreateRepository("kb");
        using (var seed = NewWorkingRepository("seed", remote.Url))
        {
            CommitFile(seed, "base.md", "base\n");
            Push(seed);
        }

        using var first = Clone("first", remote.Url);
        using var second = Clone("second", remote.Url);
        CommitFile(first, "first.md", "first\n");
        CommitFile(second, "second.md", "second\n");

        // both read the advertised tip before either updates it
        _server.Latency = TimeSpan.FromMilliseconds(500);
        var errors = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var pushes = new[] { first, second }.Select(repository => Task.Factory.StartNew(
            () => Record.Exception(() => Push(repository, new PushOptions { OnPushStatusError = e => errors.Enqueue($"{e.Reference}: {e.Message}") })),
            CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default)).ToArray();
        var thrown = await Task.WhenAll(pushes);

        Log($"racing pushes: thrown={string.Join(" | ", thrown.Select(Describe))}; status errors={string.Join(" | ", errors)}");
        Assert.All(thrown, Assert.Null);
        Assert.Equal("refs/heads/main: failed to update ref", Assert.Single(errors));
        Assert.Equal(2, remote.Open().Commits().Count);
    }

    private Repository NewWorkingRepository(string name, string remoteUrl)
    {
        var path = _temp.Combine("work", name);
        Repository.Init(path);
        var repository = new Repository(path);
        repository.Refs.UpdateTarget("HEAD", "refs/heads/main");
        repository.Network.Remotes.Add("origin", remoteUrl);
        return repository;
    }

    private Repository Clone(string name, string url) => new(Repository.Clone(url, _temp.Combine("work", name)));

    private static Commit CommitFile(Repository repository, string file, string content)
    {
        File.WriteAllText(Path.Combine(repository.Info.WorkingDirectory, file), content);
        Commands.Stage(repository, file);
        return repository.Commit($"write {file}", Author, Author);
    }

    private static void Push(Repository repository, PushOptions? options = null) =>
        AgainIfInterrupted(() => repository.Network.Push(repository.Network.Remotes["origin"], "refs/heads/main:refs/heads/main", options ?? new PushOptions()));

    private static void Fetch(Repository repository, FetchOptions? options = null) =>
        AgainIfInterrupted(() => Commands.Fetch(repository, "origin", ["+refs/heads/main:refs/remotes/origin/main"], options ?? new FetchOptions(), logMessage: null));

    /// <summary>
    /// The server's git http-backend children run in this test process, and each one's exit (SIGCHLD) can
    /// interrupt libgit2's wait on another client's socket ("Interrupted system call": libgit2 polls with
    /// the socket timeouts set and does not retry EINTR). That is the test's own doing, not the server's,
    /// so the call is made again once.
    /// </summary>
    private static void AgainIfInterrupted(Action gitCall)
    {
        try
        {
            gitCall();
        }
        catch (LibGit2SharpException error) when (error.Message.Contains("Interrupted system call", StringComparison.Ordinal))
        {
            gitCall();
        }
    }

    private static string Describe(Exception? error) => error is null ? "(nothing)" : $"{error.GetType().Name}: \"{error.Message}\"";

    private void Log(string line) => output.WriteLine(line);
}

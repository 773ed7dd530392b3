using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace KbSync.TestSupport;

/// <summary>
/// A smart-HTTP git server for the tests and the benchmarks' +latency remotes: serves the bare repositories under <see cref="Root"/> at
/// <c>http://127.0.0.1:&lt;port&gt;/&lt;name&gt;.git</c> by running <c>git http-backend</c> as a CGI
/// per request, so pushes run receive-pack with its hooks, as a hosted remote would.
/// Basic auth (<see cref="RequireToken"/>), <see cref="Latency"/> and <see cref="Silent"/> can be
/// changed at any time while it runs; each request sees the values current when it arrives.
/// </summary>
/// <remarks>
/// A minimal HTTP/1.1 server over a <see cref="TcpListener"/> (keep-alive, chunked bodies both ways)
/// rather than <see cref="HttpListener"/>: that one answers "200 OK" with an empty body when a hanging
/// request is aborted, where a dead remote just closes the connection.
/// </remarks>
public sealed class GitHttpServer : IAsyncDisposable
{
    public const string Realm = "kbsync-test";

    private static readonly TimeSpan DisposeGrace = TimeSpan.FromSeconds(5);

    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<long, (TcpClient Client, Task Serving)> _connections = new();
    private readonly ConcurrentDictionary<int, Process> _backends = new();
    private readonly ConcurrentQueue<GitHttpRequest> _requests = new();
    private readonly ConcurrentQueue<string> _backendErrors = new();
    private readonly Task _acceptLoop;
    private Credential? _required;
    private long _latencyTicks;
    private volatile bool _silent;
    private string? _redirectTo;
    private long _nextConnectionId;
    private int _disposed;

    /// <summary>Starts serving the bare repositories under <paramref name="root"/>.</summary>
    public GitHttpServer(string root)
    {
        Directory.CreateDirectory(root);
        Root = System.IO.Path.GetFullPath(root);
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start(backlog: 64);
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        BaseUrl = $"http://127.0.0.1:{Port}";
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    /// <summary>The folder whose bare repositories are served (GIT_PROJECT_ROOT).</summary>
    public string Root { get; }

    public int Port { get; }

    /// <summary><c>http://127.0.0.1:&lt;port&gt;</c>, no trailing slash.</summary>
    public string BaseUrl { get; }

    /// <summary>Added delay before answering each request (a hosted remote's round trip).</summary>
    public TimeSpan Latency
    {
        get => TimeSpan.FromTicks(Interlocked.Read(ref _latencyTicks));
        set => Interlocked.Exchange(ref _latencyTicks, Math.Max(0, value.Ticks));
    }

    /// <summary>
    /// When true, requests arriving from now on are read and never answered: they hang until the
    /// client gives up or the server is disposed, which closes their connections without a byte of answer.
    /// </summary>
    public bool Silent
    {
        get => _silent;
        set => _silent = value;
    }

    /// <summary>
    /// Runs before each push (<c>POST …/git-receive-pack</c>) reaches the repository, with the request's
    /// path: a test can move the branch here to make the push lose a race, deterministically.
    /// </summary>
    public Func<string, Task>? BeforeReceivePack { get; set; }

    /// <summary>
    /// When set, every request from now on is answered <c>302 Found</c> with <c>Location:</c> this base URL
    /// followed by the request's path and query: a remote that sends its clients to another server.
    /// </summary>
    public string? RedirectTo
    {
        get => Volatile.Read(ref _redirectTo);
        set => Volatile.Write(ref _redirectTo, value);
    }

    /// <summary>How many pushes (<c>POST …/git-receive-pack</c>) were received.</summary>
    public int ReceivePackCount => _requests.Count(r => IsReceivePack(r.Method, r.PathAndQuery));

    /// <summary>Every request received, in arrival order (Authorization values are never kept).</summary>
    public IReadOnlyList<GitHttpRequest> Requests => _requests.ToArray();

    /// <summary>Every request received as <c>"METHOD /path?query"</c>, in arrival order.</summary>
    public IReadOnlyList<string> RequestLog => _requests.Select(r => $"{r.Method} {r.PathAndQuery}").ToArray();

    /// <summary>How many requests carried an <c>Authorization</c> header.</summary>
    public int AuthorizationHeaderCount => _requests.Count(r => r.HasAuthorization);

    /// <summary>
    /// What <c>git http-backend</c> wrote to stderr, one line each. Hook output and receive-pack's
    /// refusals go to the client on the sideband, not here.
    /// </summary>
    public IReadOnlyList<string> BackendErrors => _backendErrors.ToArray();

    /// <summary>The URL of the repository <paramref name="repoName"/> (with or without <c>.git</c>).</summary>
    public string Url(string repoName) => $"{BaseUrl}/{RepoFolderName(repoName)}";

    /// <summary>
    /// Creates a bare repository <c>&lt;name&gt;.git</c> under <see cref="Root"/> with HEAD on
    /// <paramref name="branch"/> and <c>http.receivepack</c> enabled, so it accepts pushes.
    /// </summary>
    public GitRemoteOnDisk CreateRepository(string name, string branch = "main")
    {
        var path = RepoPath(name);
        RunGit(Root, "init", "--bare", "--quiet", $"--initial-branch={branch}", path);
        RunGit(path, "config", "http.receivepack", "true");
        return new GitRemoteOnDisk(RepoFolderName(name), path, branch, Url(name));
    }

    /// <summary>
    /// From now on, every request must carry <c>Authorization: Basic base64(username:token)</c> or is
    /// answered 401 with <c>WWW-Authenticate: Basic realm="kbsync-test"</c>. <c>RequireToken(null, null)</c> turns it off.
    /// </summary>
    public void RequireToken(string? username, string? token) =>
        Volatile.Write(ref _required, username is null && token is null ? null : new Credential(username ?? "", token ?? ""));

    /// <summary>Writes an executable <c>hooks/pre-receive</c> into the repository (a <c>#!/bin/sh</c> line is added when the script has none).</summary>
    public void InstallPreReceiveHook(string repoName, string script)
    {
        var hooks = System.IO.Path.Combine(RepoPath(repoName), "hooks");
        Directory.CreateDirectory(hooks);
        var hook = System.IO.Path.Combine(hooks, "pre-receive");
        var text = script.StartsWith("#!", StringComparison.Ordinal) ? script : "#!/bin/sh\n" + script;
        File.WriteAllText(hook, text.ReplaceLineEndings("\n") + "\n");
        if (!OperatingSystem.IsWindows()) // git for Windows runs hooks through its own sh
        {
            File.SetUnixFileMode(hook, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
                                       UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        }
    }

    /// <summary>Forgets the requests seen so far.</summary>
    public void ClearLog() => _requests.Clear();

    /// <summary>
    /// Stops listening, closes every connection (hanging ones included) without answering and kills
    /// running backends; never waits more than a few seconds.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _stopping.CancelAsync();
        _listener.Stop();
        foreach (var (client, _) in _connections.Values)
        {
            client.Close();
        }

        foreach (var backend in _backends.Values)
        {
            KillQuietly(backend);
        }

        var everything = Task.WhenAll(_connections.Values.Select(c => c.Serving).Append(_acceptLoop));
        await Task.WhenAny(everything, Task.Delay(DisposeGrace));
    }

    private static string RepoFolderName(string name) => name.EndsWith(".git", StringComparison.Ordinal) ? name : name + ".git";

    private string RepoPath(string name) => System.IO.Path.Combine(Root, RepoFolderName(name));

    private async Task AcceptLoopAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stopping.Token);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException or InvalidOperationException)
            {
                return; // stopped
            }

            client.NoDelay = true;
            var id = Interlocked.Increment(ref _nextConnectionId);
            var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var serving = ServeConnectionAsync(client, ready.Task);
            _connections[id] = (client, serving);
            ready.SetResult();
            _ = serving.ContinueWith(_ => _connections.TryRemove(id, out var _), TaskScheduler.Default);
            if (_stopping.IsCancellationRequested)
            {
                client.Close(); // accepted while disposing
            }
        }
    }

    private async Task ServeConnectionAsync(TcpClient client, Task registered)
    {
        await registered;
        var stopping = _stopping.Token;
        try
        {
            var stream = client.GetStream();
            var input = new ConnectionInput(stream);
            var remoteAddress = (client.Client.RemoteEndPoint as IPEndPoint)?.Address.ToString() ?? "127.0.0.1";
            while (!stopping.IsCancellationRequested)
            {
                var request = await ReadRequestAsync(input, remoteAddress, stopping);
                if (request is null)
                {
                    return; // the client closed the connection
                }

                var keepAlive = await HandleAsync(request, stream, stopping);
                if (!keepAlive || !request.Body.Finished)
                {
                    return;
                }
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException or InvalidDataException)
        {
            // the client went away, sent garbage, or the server is being disposed: close without an answer
        }
        catch (Exception e)
        {
            _backendErrors.Enqueue($"[server] {e}");
        }
        finally
        {
            client.Close();
        }
    }

    private static async Task<Request?> ReadRequestAsync(ConnectionInput input, string remoteAddress, CancellationToken stopping)
    {
        string? requestLine;
        do
        {
            requestLine = await input.ReadLineAsync(stopping);
            if (requestLine is null)
            {
                return null;
            }
        }
        while (requestLine.Length == 0); // tolerate stray CRLFs between requests

        var parts = requestLine.Split(' ');
        if (parts.Length != 3 || !parts[2].StartsWith("HTTP/1.", StringComparison.Ordinal))
        {
            throw new InvalidDataException($"bad request line: {requestLine}");
        }

        var headers = new List<KeyValuePair<string, string>>();
        while (true)
        {
            var line = await input.ReadLineAsync(stopping) ?? throw new IOException("connection closed in the request headers");
            if (line.Length == 0)
            {
                break;
            }

            var colon = line.IndexOf(':');
            if (colon <= 0)
            {
                throw new InvalidDataException($"bad header line: {line}");
            }

            headers.Add(new(line[..colon].Trim(), line[(colon + 1)..].Trim()));
            if (headers.Count > 200)
            {
                throw new InvalidDataException("too many request headers");
            }
        }

        string? Header(string name) => headers.LastOrDefault(h => h.Key.Equals(name, StringComparison.OrdinalIgnoreCase)).Value;
        var chunked = Header("Transfer-Encoding")?.Contains("chunked", StringComparison.OrdinalIgnoreCase) == true;
        long? length = !chunked && long.TryParse(Header("Content-Length"), NumberStyles.None, CultureInfo.InvariantCulture, out var l) ? l : null;
        var body = new RequestBody(input, chunked, length ?? 0);
        return new Request(parts[0], parts[1], parts[2], headers, Header, body, length, remoteAddress);
    }

    /// <summary>Answers one request; false when the connection must be closed afterwards.</summary>
    private async Task<bool> HandleAsync(Request request, NetworkStream stream, CancellationToken stopping)
    {
        var authorization = request.Header("Authorization");
        _requests.Enqueue(new GitHttpRequest(
            request.Method,
            request.Target,
            authorization is not null,
            authorization?.Split(' ', 2)[0],
            request.Headers.Where(h => !h.Key.Equals("Authorization", StringComparison.OrdinalIgnoreCase))
                .GroupBy(h => h.Key, StringComparer.OrdinalIgnoreCase)
                .ToDictionary(g => g.Key, g => string.Join(", ", g.Select(h => h.Value)), StringComparer.OrdinalIgnoreCase),
            DateTimeOffset.UtcNow));

        var latency = Latency;
        if (latency > TimeSpan.Zero)
        {
            await Task.Delay(latency, stopping);
        }

        if (Silent)
        {
            await Task.Delay(Timeout.Infinite, stopping); // until disposed; then the connection closes unanswered
        }

        if (BeforeReceivePack is { } beforeReceivePack && IsReceivePack(request.Method, request.Target))
        {
            await beforeReceivePack(request.Target);
        }

        var http11 = request.Version == "HTTP/1.1";
        var connection = request.Header("Connection");
        var keepAlive = http11
            ? connection?.Contains("close", StringComparison.OrdinalIgnoreCase) != true
            : connection?.Contains("keep-alive", StringComparison.OrdinalIgnoreCase) == true;
        var response = new ResponseWriter(stream, http11);

        if (RedirectTo is { } redirectTo)
        {
            await response.WriteHeadAsync(302, [new("Location", redirectTo + request.Target)], 0, keepAlive: false, stopping);
            await response.EndAsync(stopping);
            return false;
        }

        var required = Volatile.Read(ref _required);
        if (required is not null && !Authorized(authorization, required))
        {
            // a client that waits for "100 Continue" never sends its body: close rather than read it
            var expectsContinue = request.Header("Expect")?.Contains("100-continue", StringComparison.OrdinalIgnoreCase) == true;
            keepAlive &= !expectsContinue;
            var text = "Authentication required\n"u8.ToArray();
            await response.WriteHeadAsync(401, [new("WWW-Authenticate", $"Basic realm=\"{Realm}\""), new("Content-Type", "text/plain")], text.Length, keepAlive, stopping);
            await response.WriteBodyAsync(text, stopping);
            await response.EndAsync(stopping);
            if (keepAlive)
            {
                await request.Body.DrainAsync(stopping);
            }

            return keepAlive;
        }

        if (request.Header("Expect")?.Contains("100-continue", StringComparison.OrdinalIgnoreCase) == true && request.HasBody)
        {
            await stream.WriteAsync("HTTP/1.1 100 Continue\r\n\r\n"u8.ToArray(), stopping);
        }

        return await RunBackendAsync(request, required?.Username, response, keepAlive, stopping);
    }

    private static bool IsReceivePack(string method, string target) =>
        method == "POST" && target.Split('?')[0].EndsWith("/git-receive-pack", StringComparison.Ordinal);

    private static bool Authorized(string? header, Credential required)
    {
        if (header is null || !header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        try
        {
            var pair = Encoding.UTF8.GetString(Convert.FromBase64String(header["Basic ".Length..].Trim()));
            return pair == $"{required.Username}:{required.Token}";
        }
        catch (FormatException)
        {
            return false;
        }
    }

    private async Task<bool> RunBackendAsync(Request request, string? user, ResponseWriter response, bool keepAlive, CancellationToken stopping)
    {
        var start = new ProcessStartInfo("git", "http-backend")
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Root,
        };
        var env = start.Environment;
        foreach (var inherited in env.Keys.Where(k => k.StartsWith("GIT_", StringComparison.Ordinal)).ToList())
        {
            env.Remove(inherited);
        }

        var queryAt = request.Target.IndexOf('?');
        var path = queryAt < 0 ? request.Target : request.Target[..queryAt];
        env["GIT_PROJECT_ROOT"] = Root;
        env["GIT_HTTP_EXPORT_ALL"] = "1";
        env["GATEWAY_INTERFACE"] = "CGI/1.1";
        env["SERVER_PROTOCOL"] = request.Version;
        env["SERVER_NAME"] = "127.0.0.1";
        env["SERVER_PORT"] = Port.ToString(CultureInfo.InvariantCulture);
        env["REQUEST_METHOD"] = request.Method;
        env["PATH_INFO"] = Uri.UnescapeDataString(path);
        env["QUERY_STRING"] = queryAt < 0 ? "" : request.Target[(queryAt + 1)..];
        env["REMOTE_ADDR"] = request.RemoteAddress;
        SetOrRemove(env, "REMOTE_USER", user);
        SetOrRemove(env, "AUTH_TYPE", user is null ? null : "Basic");
        SetOrRemove(env, "CONTENT_TYPE", request.Header("Content-Type"));
        // a chunked body has no length: http-backend then reads stdin to its end
        SetOrRemove(env, "CONTENT_LENGTH", request.ContentLength?.ToString(CultureInfo.InvariantCulture));
        foreach (var (name, value) in request.Headers)
        {
            if (name.Equals("Authorization", StringComparison.OrdinalIgnoreCase) || name.Equals("Content-Type", StringComparison.OrdinalIgnoreCase) ||
                name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase) || name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            env["HTTP_" + name.ToUpperInvariant().Replace('-', '_')] = value; // HTTP_CONTENT_ENCODING (gzip bodies) among them
        }

        SetOrRemove(env, "GIT_PROTOCOL", request.Header("Git-Protocol"));

        using var backend = new Process { StartInfo = start };
        backend.ErrorDataReceived += (_, line) =>
        {
            if (line.Data is not null)
            {
                _backendErrors.Enqueue(line.Data);
            }
        };
        backend.Start();
        _backends[backend.Id] = backend;
        try
        {
            backend.BeginErrorReadLine();
            using var kill = stopping.Register(() => KillQuietly(backend));
            var feeding = FeedAsync(request.Body, backend.StandardInput.BaseStream, stopping);
            try
            {
                keepAlive = await RelayAsync(backend.StandardOutput.BaseStream, response, keepAlive, stopping);
            }
            finally
            {
                await feeding;
            }

            await backend.WaitForExitAsync(stopping);
            return keepAlive;
        }
        finally
        {
            _backends.TryRemove(backend.Id, out _);
            KillQuietly(backend); // a no-op when it exited
        }
    }

    private static void SetOrRemove(IDictionary<string, string?> env, string name, string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            env.Remove(name);
        }
        else
        {
            env[name] = value;
        }
    }

    /// <summary>Streams the request body to the backend's stdin, then closes it. Never throws.</summary>
    private static async Task FeedAsync(RequestBody body, Stream stdin, CancellationToken stopping)
    {
        try
        {
            var buffer = new byte[64 * 1024];
            int read;
            while ((read = await body.ReadAsync(buffer, stopping)) > 0)
            {
                await stdin.WriteAsync(buffer.AsMemory(0, read), stopping);
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException or InvalidDataException)
        {
            // the backend stopped reading (it answered an error), or the client went away: the relay decides
        }
        finally
        {
            try
            {
                stdin.Close();
            }
            catch (IOException)
            {
            }
        }
    }

    /// <summary>Parses the CGI header block from the backend's stdout, then streams the rest as the body.</summary>
    private static async Task<bool> RelayAsync(Stream stdout, ResponseWriter response, bool keepAlive, CancellationToken stopping)
    {
        var buffer = new byte[64 * 1024];
        var filled = 0;
        int headerEnd, bodyStart;
        while (true)
        {
            (headerEnd, bodyStart) = FindHeaderEnd(buffer, filled);
            if (headerEnd >= 0)
            {
                break;
            }

            if (filled == buffer.Length)
            {
                throw new InvalidDataException("git http-backend wrote a CGI header block larger than 64 KiB");
            }

            var read = await stdout.ReadAsync(buffer.AsMemory(filled), stopping);
            if (read == 0)
            {
                await response.WriteHeadAsync(502, [new("Content-Type", "text/plain")], 0, keepAlive: false, stopping);
                await response.EndAsync(stopping);
                return false; // the backend died before its header block
            }

            filled += read;
        }

        var status = 200;
        string? reason = null;
        long? contentLength = null;
        var headers = new List<KeyValuePair<string, string>>();
        foreach (var line in Encoding.Latin1.GetString(buffer, 0, headerEnd).Split('\n'))
        {
            var trimmed = line.TrimEnd('\r');
            var colon = trimmed.IndexOf(':');
            if (colon <= 0)
            {
                continue;
            }

            var name = trimmed[..colon].Trim();
            var value = trimmed[(colon + 1)..].Trim();
            if (name.Equals("Status", StringComparison.OrdinalIgnoreCase))
            {
                var parts = value.Split(' ', 2);
                status = int.Parse(parts[0], CultureInfo.InvariantCulture);
                reason = parts.Length > 1 ? parts[1] : null;
            }
            else if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                contentLength = long.Parse(value, CultureInfo.InvariantCulture);
            }
            else if (!name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase) && !name.Equals("Connection", StringComparison.OrdinalIgnoreCase))
            {
                headers.Add(new(name, value));
            }
        }

        keepAlive = await response.WriteHeadAsync(status, headers, contentLength, keepAlive, stopping, reason);
        if (filled > bodyStart)
        {
            await response.WriteBodyAsync(buffer.AsMemory(bodyStart, filled - bodyStart), stopping);
        }

        int n;
        while ((n = await stdout.ReadAsync(buffer, stopping)) > 0)
        {
            await response.WriteBodyAsync(buffer.AsMemory(0, n), stopping);
        }

        await response.EndAsync(stopping);
        return keepAlive;
    }

    /// <summary>Where the CGI header block ends (a blank line, CRLF or LF) and the body starts; -1 when not read yet.</summary>
    private static (int HeaderEnd, int BodyStart) FindHeaderEnd(byte[] buffer, int filled)
    {
        for (var i = 0; i < filled; i++)
        {
            if (buffer[i] != '\n')
            {
                continue;
            }

            if (i + 1 < filled && buffer[i + 1] == '\n')
            {
                return (i, i + 2);
            }

            if (i + 2 < filled && buffer[i + 1] == '\r' && buffer[i + 2] == '\n')
            {
                return (i, i + 3);
            }
        }

        return (-1, -1);
    }

    private static void KillQuietly(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception or NotSupportedException)
        {
        }
    }

    private static void RunGit(string workingDirectory, params string[] arguments)
    {
        var start = new ProcessStartInfo("git")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workingDirectory,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var git = Process.Start(start) ?? throw new InvalidOperationException("could not start git");
        var stderr = git.StandardError.ReadToEndAsync();
        git.StandardOutput.ReadToEnd();
        git.WaitForExit();
        if (git.ExitCode != 0)
        {
            throw new InvalidOperationException($"git {string.Join(' ', arguments)} failed ({git.ExitCode}): {stderr.Result}");
        }
    }

    private sealed record Credential(string Username, string Token);

    private sealed record Request(
        string Method,
        string Target,
        string Version,
        IReadOnlyList<KeyValuePair<string, string>> Headers,
        Func<string, string?> Header,
        RequestBody Body,
        long? ContentLength,
        string RemoteAddress)
    {
        public bool HasBody => !Body.Finished;
    }

    /// <summary>A connection's input: buffered, read as CRLF lines (request head, chunk sizes) or as bytes (bodies).</summary>
    private sealed class ConnectionInput(Stream inner)
    {
        private const int MaxLine = 64 * 1024;
        private readonly byte[] _buffer = new byte[64 * 1024];
        private int _start;
        private int _end;

        /// <summary>The next line without its line break; null at the end of the stream before any byte of it.</summary>
        public async ValueTask<string?> ReadLineAsync(CancellationToken cancellationToken)
        {
            var line = new StringBuilder();
            while (true)
            {
                if (_start == _end)
                {
                    _start = _end = 0;
                    var read = await inner.ReadAsync(_buffer, cancellationToken);
                    if (read == 0)
                    {
                        return line.Length == 0 ? null : throw new IOException("connection closed in the middle of a line");
                    }

                    _end = read;
                }

                var newline = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
                if (newline < 0)
                {
                    line.Append(Encoding.Latin1.GetString(_buffer, _start, _end - _start));
                    _start = _end;
                    if (line.Length > MaxLine)
                    {
                        throw new InvalidDataException("line too long");
                    }

                    continue;
                }

                line.Append(Encoding.Latin1.GetString(_buffer, _start, newline - _start));
                _start = newline + 1;
                return line.ToString().TrimEnd('\r');
            }
        }

        /// <summary>Up to <paramref name="destination"/>'s length of raw bytes; 0 at the end of the stream.</summary>
        public async ValueTask<int> ReadAsync(Memory<byte> destination, CancellationToken cancellationToken)
        {
            if (destination.IsEmpty)
            {
                return 0;
            }

            if (_start == _end)
            {
                _start = _end = 0;
                var read = await inner.ReadAsync(_buffer, cancellationToken);
                if (read == 0)
                {
                    return 0;
                }

                _end = read;
            }

            var count = Math.Min(destination.Length, _end - _start);
            _buffer.AsMemory(_start, count).CopyTo(destination);
            _start += count;
            return count;
        }
    }

    /// <summary>A request body: Content-Length bytes, or chunked (de-chunked here), or nothing.</summary>
    private sealed class RequestBody(ConnectionInput input, bool chunked, long length)
    {
        private long _left = chunked ? 0 : length;

        public bool Finished { get; private set; } = !chunked && length == 0;

        public async ValueTask<int> ReadAsync(Memory<byte> destination, CancellationToken cancellationToken)
        {
            if (Finished || destination.IsEmpty)
            {
                return 0;
            }

            if (chunked && _left == 0)
            {
                var sizeLine = await input.ReadLineAsync(cancellationToken) ?? throw new IOException("connection closed in a chunked body");
                if (!long.TryParse(sizeLine.Split(';')[0].Trim(), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var size) || size < 0)
                {
                    throw new InvalidDataException($"bad chunk size: {sizeLine}");
                }

                if (size == 0)
                {
                    string? trailer;
                    do
                    {
                        trailer = await input.ReadLineAsync(cancellationToken);
                    }
                    while (!string.IsNullOrEmpty(trailer));

                    Finished = true;
                    return 0;
                }

                _left = size;
            }

            var read = await input.ReadAsync(destination[..(int)Math.Min(destination.Length, _left)], cancellationToken);
            if (read == 0)
            {
                throw new IOException("connection closed in the request body");
            }

            _left -= read;
            if (_left == 0)
            {
                if (chunked)
                {
                    if (await input.ReadLineAsync(cancellationToken) is not "")
                    {
                        throw new InvalidDataException("missing CRLF after a chunk");
                    }
                }
                else
                {
                    Finished = true;
                }
            }

            return read;
        }

        public async Task DrainAsync(CancellationToken cancellationToken)
        {
            var buffer = new byte[16 * 1024];
            while (await ReadAsync(buffer, cancellationToken) > 0)
            {
            }
        }
    }

    /// <summary>Writes one response: status line and headers, then a Content-Length or chunked body.</summary>
    private sealed class ResponseWriter(Stream output, bool http11)
    {
        private bool _chunked;

        /// <summary>Writes the head; returns whether the connection stays open after the body.</summary>
        public async Task<bool> WriteHeadAsync(int status, IEnumerable<KeyValuePair<string, string>> headers, long? contentLength, bool keepAlive,
            CancellationToken cancellationToken, string? reason = null)
        {
            var head = new StringBuilder();
            head.Append(CultureInfo.InvariantCulture, $"HTTP/1.1 {status} {reason ?? ReasonPhrase(status)}\r\n");
            foreach (var (name, value) in headers)
            {
                head.Append(CultureInfo.InvariantCulture, $"{name}: {value}\r\n");
            }

            if (contentLength is { } length)
            {
                head.Append(CultureInfo.InvariantCulture, $"Content-Length: {length}\r\n");
            }
            else if (http11)
            {
                _chunked = true;
                head.Append("Transfer-Encoding: chunked\r\n");
            }
            else
            {
                keepAlive = false; // an HTTP/1.0 body without a length ends when the connection does
            }

            head.Append(keepAlive ? (http11 ? "" : "Connection: keep-alive\r\n") : "Connection: close\r\n");
            head.Append("\r\n");
            await output.WriteAsync(Encoding.Latin1.GetBytes(head.ToString()), cancellationToken);
            return keepAlive;
        }

        public async Task WriteBodyAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
        {
            if (data.IsEmpty)
            {
                return;
            }

            if (_chunked)
            {
                await output.WriteAsync(Encoding.ASCII.GetBytes($"{data.Length:x}\r\n"), cancellationToken);
                await output.WriteAsync(data, cancellationToken);
                await output.WriteAsync("\r\n"u8.ToArray(), cancellationToken);
            }
            else
            {
                await output.WriteAsync(data, cancellationToken);
            }
        }

        public async Task EndAsync(CancellationToken cancellationToken)
        {
            if (_chunked)
            {
                await output.WriteAsync("0\r\n\r\n"u8.ToArray(), cancellationToken);
            }

            await output.FlushAsync(cancellationToken);
        }

        private static string ReasonPhrase(int status) => status switch
        {
            200 => "OK",
            302 => "Found",
            304 => "Not Modified",
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            405 => "Method Not Allowed",
            415 => "Unsupported Media Type",
            500 => "Internal Server Error",
            502 => "Bad Gateway",
            _ => "Status",
        };
    }
}

/// <summary>A bare repository served by a <see cref="GitHttpServer"/>: its folder name, path on disk, branch and URL.</summary>
public sealed record GitRemoteOnDisk(string Name, string Path, string Branch, string Url)
{
    public override string ToString() => Path;
}

/// <summary>One request a <see cref="GitHttpServer"/> received. Headers exclude Authorization; only its scheme is kept.</summary>
public sealed record GitHttpRequest(
    string Method,
    string PathAndQuery,
    bool HasAuthorization,
    string? AuthorizationScheme,
    IReadOnlyDictionary<string, string> Headers,
    DateTimeOffset ReceivedAt);

using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace KbSync.IntegrationTests.Fixtures;

/// <summary>
/// An attacker's HTTP server: answers every request <c>401</c> with <c>WWW-Authenticate: Basic</c>, as a
/// git server that wants credentials would, and keeps every request line and every <c>Authorization</c>
/// header it receives, decoded. Listens on <c>127.0.0.2</c> by default: on this machine's loopback, but
/// another host than the test git server's <c>127.0.0.1</c>.
/// </summary>
public sealed class CredentialTrap : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentQueue<string> _requests = new();
    private readonly ConcurrentQueue<string> _credentials = new();
    private readonly Task _acceptLoop;

    public CredentialTrap(string address = "127.0.0.2")
    {
        _listener = new TcpListener(IPAddress.Parse(address), 0);
        _listener.Start();
        BaseUrl = $"http://{address}:{((IPEndPoint)_listener.LocalEndpoint).Port}";
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    /// <summary><c>http://127.0.0.2:&lt;port&gt;</c>, no trailing slash.</summary>
    public string BaseUrl { get; }

    /// <summary>Every request line received (<c>GET /kb.git/info/refs?service=git-upload-pack</c>).</summary>
    public IReadOnlyList<string> Requests => _requests.ToArray();

    /// <summary>Every Authorization header received, Basic ones decoded to <c>user:password</c>.</summary>
    public IReadOnlyList<string> Credentials => _credentials.ToArray();

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        _listener.Stop();
        await Task.WhenAny(_acceptLoop, Task.Delay(TimeSpan.FromSeconds(5)));
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            try
            {
                var client = await _listener.AcceptTcpClientAsync(_stopping.Token);
                _ = Task.Run(() => ServeAsync(client));
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Answers each request on the connection (keep-alive, as libgit2 expects after a 401) until the client closes it.</summary>
    private async Task ServeAsync(TcpClient client)
    {
        using var _ = client;
        try
        {
            var stream = client.GetStream();
            using var reader = new StreamReader(stream, Encoding.Latin1, leaveOpen: true);
            while (await reader.ReadLineAsync(_stopping.Token) is { } line)
            {
                if (line.Length == 0)
                {
                    continue;
                }

                _requests.Enqueue(line);
                while (!string.IsNullOrEmpty(line = await reader.ReadLineAsync(_stopping.Token)))
                {
                    if (line.StartsWith("Authorization:", StringComparison.OrdinalIgnoreCase))
                    {
                        _credentials.Enqueue(Decode(line["Authorization:".Length..].Trim()));
                    }
                }

                const string body = "Authentication required\n";
                var answer = $"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"trap\"\r\nContent-Type: text/plain\r\nContent-Length: {body.Length}\r\n\r\n{body}";
                await stream.WriteAsync(Encoding.ASCII.GetBytes(answer), _stopping.Token);
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    private static string Decode(string header)
    {
        var parts = header.Split(' ', 2);
        if (parts.Length == 2 && parts[0].Equals("Basic", StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                return Encoding.UTF8.GetString(Convert.FromBase64String(parts[1]));
            }
            catch (FormatException)
            {
            }
        }

        return header;
    }
}

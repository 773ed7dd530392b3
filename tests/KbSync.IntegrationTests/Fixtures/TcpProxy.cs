using System.Net;
using System.Net.Sockets;

namespace KbSync.IntegrationTests.Fixtures;

/// <summary>
/// A TCP forwarder on a loopback port to a real server (PostgreSQL, RabbitMQ…), to take that server
/// away from a process under test and give it back, without stopping the server other tests share.
/// <see cref="Pause"/> resets every open connection and resets each new one as soon as it is
/// accepted, as a server that went down would look to a client; <see cref="Resume"/> forwards again.
/// </summary>
public sealed class TcpProxy : IAsyncDisposable, IDisposable
{
    private readonly string _host;
    private readonly int _port;
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _gate = new();
    private readonly HashSet<Socket> _open = [];
    private readonly Task _accepting;
    private bool _paused;

    private TcpProxy(string host, int port)
    {
        _host = host;
        _port = port;
        _listener.Start();
        _accepting = AcceptAsync();
    }

    /// <summary>Listens on a free loopback port and forwards every connection to <paramref name="host"/>:<paramref name="port"/>.</summary>
    public static TcpProxy Start(string host, int port) => new(host, port);

    /// <summary>The loopback port to connect to instead of the server's.</summary>
    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Resets every open connection (both sides); until <see cref="Resume"/>, new ones are reset as soon as they are accepted.</summary>
    public void Pause()
    {
        lock (_gate)
        {
            _paused = true;
            foreach (var socket in _open)
            {
                Reset(socket);
            }

            _open.Clear();
        }
    }

    /// <summary>Forwards new connections again.</summary>
    public void Resume()
    {
        lock (_gate)
        {
            _paused = false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        Pause();
        await _accepting.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _stop.Dispose();
    }

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception error) when (error is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            _ = ForwardAsync(client);
        }
    }

    private async Task ForwardAsync(Socket client)
    {
        var server = new Socket(SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (!Track(client))
            {
                return;
            }

            await server.ConnectAsync(_host, _port, _stop.Token);
            if (!Track(server))
            {
                return;
            }

            var up = CopyAsync(client, server);
            var down = CopyAsync(server, client);
            if (await await Task.WhenAny(up, down))
            {
                await Task.WhenAll(up, down); // one side said goodbye: let the other finish too
            }
        }
        catch (Exception error) when (error is SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
        finally
        {
            lock (_gate)
            {
                _open.Remove(client);
                _open.Remove(server);
            }

            Reset(client);
            Reset(server);
        }
    }

    /// <summary>Counts the socket among the open ones, so <see cref="Pause"/> finds it; false (and reset) while paused.</summary>
    private bool Track(Socket socket)
    {
        lock (_gate)
        {
            if (_paused || _stop.IsCancellationRequested)
            {
                Reset(socket);
                return false;
            }

            _open.Add(socket);
            return true;
        }
    }

    /// <summary>Copies one direction; true when <paramref name="from"/> closed it (FIN, passed on), false when it broke.</summary>
    private async Task<bool> CopyAsync(Socket from, Socket to)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            while (true)
            {
                var read = await from.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
                if (read == 0)
                {
                    to.Shutdown(SocketShutdown.Send);
                    return true;
                }

                await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, _stop.Token);
            }
        }
        catch (Exception error) when (error is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            return false;
        }
    }

    /// <summary>Closes with RST (linger 0), not FIN: the peer sees "connection reset", as when a server dies.</summary>
    private static void Reset(Socket socket)
    {
        try
        {
            if (socket.Connected)
            {
                socket.LingerState = new LingerOption(true, 0);
            }

            socket.Close();
        }
        catch (Exception error) when (error is SocketException or ObjectDisposedException)
        {
        }
    }
}

using System.Net;
using System.Net.Sockets;

namespace KbSync.TestSupport;

/// <summary>
/// Loopback TCP ports for servers a test or benchmark starts (an API and its metrics listener, sshd,
/// broker nodes). A port is free when it is chosen, and it is never handed out twice by this process:
/// asking the system for port 0 twice in a row can give the same port both times, which once gave
/// an API and its metrics listener one port between them. A server of another process may still
/// take a port before ours binds it.
/// </summary>
public static class FreePorts
{
    private const int Attempts = 1_000;
    private static readonly HashSet<int> HandedOut = [];
    private static readonly Lock Gate = new();

    /// <summary>One free port from the system's ephemeral range.</summary>
    public static int Loopback() => Loopback(1)[0];

    /// <summary><paramref name="count"/> different free ports from the system's ephemeral range.</summary>
    public static IReadOnlyList<int> Loopback(int count)
    {
        var held = new List<TcpListener>();
        try
        {
            lock (Gate)
            {
                var ports = new List<int>();
                for (var attempt = 0; ports.Count < count; attempt++)
                {
                    if (attempt == Attempts)
                    {
                        throw new InvalidOperationException($"No {count} free loopback ports in {Attempts} attempts.");
                    }

                    // each listener stays open until all are chosen, so the system cannot give its port again meanwhile
                    var listener = new TcpListener(IPAddress.Loopback, 0);
                    listener.Start();
                    held.Add(listener);
                    var port = ((IPEndPoint)listener.LocalEndpoint).Port;
                    if (HandedOut.Add(port))
                    {
                        ports.Add(port);
                    }
                }

                return ports;
            }
        }
        finally
        {
            foreach (var listener in held)
            {
                listener.Stop();
            }
        }
    }

    /// <summary>
    /// <paramref name="count"/> different free ports below the ephemeral range, so that no outgoing
    /// connection takes one while its server is down and restarting, and below 55536 (RabbitMQ's CLI
    /// tools listen 10000 above a node's distribution port).
    /// </summary>
    public static IReadOnlyList<int> BelowEphemeralRange(int count)
    {
        var range = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[])['\t', ' '], StringSplitOptions.RemoveEmptyEntries);
        var below = Math.Min(int.Parse(range[0]), 55_536);
        lock (Gate)
        {
            var ports = new List<int>();
            for (var port = Random.Shared.Next(20_000, below - 1_000); ports.Count < count && port < below; port++)
            {
                if (HandedOut.Contains(port))
                {
                    continue;
                }

                try
                {
                    var listener = new TcpListener(IPAddress.Loopback, port);
                    listener.Start();
                    listener.Stop();
                    HandedOut.Add(port);
                    ports.Add(port);
                }
                catch (SocketException)
                {
                    // taken: try the next
                }
            }

            return ports.Count == count ? ports : throw new InvalidOperationException($"Found only {ports.Count} free ports below {below}.");
        }
    }
}

using System.Net.Sockets;

namespace KbSync.IntegrationTests.Fixtures;

/// <summary>
/// Whether Testcontainers can start services here: a Docker engine must answer on its socket.
/// There is none in CI, where the tests use the services <c>./dev services up</c> started.
/// Set <c>KBSYNC_TEST_USE_DOCKER=0</c> to use those even where Docker runs.
/// </summary>
internal static class DockerEngine
{
    private const string Socket = "/var/run/docker.sock";

    private static readonly Lazy<bool> Available = new(() =>
    {
        if (Environment.GetEnvironmentVariable("KBSYNC_TEST_USE_DOCKER") == "0")
        {
            return false;
        }

        if (Environment.GetEnvironmentVariable("DOCKER_HOST") is { Length: > 0 })
        {
            return true;
        }

        try
        {
            using var socket = new System.Net.Sockets.Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            socket.Connect(new UnixDomainSocketEndPoint(Socket));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    });

    public static bool Answers() => Available.Value;
}

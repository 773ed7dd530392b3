using System.Reflection;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace KbSync.UnitTests.Messaging;

/// <summary>A stand-in for a RabbitMQ channel: only its identity, its shutdown event (raised by the test, or by a close) and whether it was closed.</summary>
public class FakeChannel : DispatchProxy
{
    private AsyncEventHandler<ShutdownEventArgs>? _shutdown;
    private volatile bool _closed;

    public static (IChannel Channel, FakeChannel Fake) Create()
    {
        var channel = Create<IChannel, FakeChannel>();
        return (channel, (FakeChannel)(object)channel);
    }

    /// <summary>Closed by the code under test (<c>CloseAsync</c>).</summary>
    public bool Closed => _closed;

    /// <summary>What the client does when the broker drops the connection.</summary>
    public Task ShutDownAsync() =>
        _shutdown?.Invoke(this, new ShutdownEventArgs(ShutdownInitiator.Peer, 320, "CONNECTION_FORCED")) ?? Task.CompletedTask;

    /// <summary>As RabbitMQ.Client does: the close finishes once the shutdown handlers have run.</summary>
    private async Task CloseAsync()
    {
        await Task.Yield();
        _closed = true;
        if (_shutdown is { } shutdown)
        {
            await shutdown.Invoke(this, new ShutdownEventArgs(ShutdownInitiator.Application, 200, "Goodbye"));
        }
    }

    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
    {
        switch (targetMethod?.Name)
        {
            case "add_ChannelShutdownAsync":
                _shutdown += (AsyncEventHandler<ShutdownEventArgs>)args![0]!;
                return null;
            case "get_IsOpen":
                return !_closed;
            case "CloseAsync":
                return CloseAsync();
            default:
                return targetMethod?.ReturnType is { IsValueType: true } type && type != typeof(void) ? Activator.CreateInstance(type) : null;
        }
    }
}

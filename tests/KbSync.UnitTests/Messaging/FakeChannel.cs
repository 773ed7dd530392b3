using System.Reflection;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace KbSync.UnitTests.Messaging;

/// <summary>A stand-in for a RabbitMQ channel: only its identity and its shutdown event, which the test raises.</summary>
public class FakeChannel : DispatchProxy
{
    private AsyncEventHandler<ShutdownEventArgs>? _shutdown;

    public static (IChannel Channel, FakeChannel Fake) Create()
    {
        var channel = Create<IChannel, FakeChannel>();
        return (channel, (FakeChannel)(object)channel);
    }

    /// <summary>What the client does when the broker drops the connection.</summary>
    public Task ShutDownAsync() =>
        _shutdown?.Invoke(this, new ShutdownEventArgs(ShutdownInitiator.Peer, 320, "CONNECTION_FORCED")) ?? Task.CompletedTask;

    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
    {
        switch (targetMethod?.Name)
        {
            case "add_ChannelShutdownAsync":
                _shutdown += (AsyncEventHandler<ShutdownEventArgs>)args![0]!;
                return null;
            case "get_IsOpen":
                return true;
            default:
                return targetMethod?.ReturnType is { IsValueType: true } type && type != typeof(void) ? Activator.CreateInstance(type) : null;
        }
    }
}

using System.Net.Http.Headers;
using System.Text;
using KbSync.Contracts;
using Testcontainers.RabbitMq;

namespace KbSync.IntegrationTests.Fixtures;

/// <summary>
/// The real RabbitMQ the tests use: a Testcontainers broker where a Docker engine answers, otherwise
/// the one <c>./dev services up</c> started (overridable with <c>RabbitMq__Host</c>, <c>RabbitMq__Port</c>,
/// <c>KBSYNC_TEST_RABBITMQ_MANAGEMENT_PORT</c>). Each test gets its own virtual host, so tests and their
/// workers never see each other's queues. <see cref="ForNodes"/> gives the same for brokers a test runs
/// itself (<see cref="BrokerNodes"/>): a cluster's nodes share their virtual hosts, and the management
/// API is asked on the next node when one does not answer (it was killed).
/// </summary>
public sealed class RabbitMqService : IAsyncLifetime
{
    private RabbitMqContainer? _container;
    private HttpClient _management = null!;
    private List<Uri> _managementNodes = [];
    private int _answering;

    public string Host { get; private set; } = Environment.GetEnvironmentVariable("RabbitMq__Host") ?? "localhost";
    public int Port { get; private set; } = int.Parse(Environment.GetEnvironmentVariable("RabbitMq__Port") ?? "5672");
    public string Username { get; } = Environment.GetEnvironmentVariable("RabbitMq__Username") ?? "guest";
    public string Password { get; } = Environment.GetEnvironmentVariable("RabbitMq__Password") ?? "guest";

    /// <summary>Every node's AMQP endpoint (<c>host:port</c>): one, unless this is a cluster.</summary>
    public IReadOnlyList<string> Nodes { get; private set; } = [];

    public async Task InitializeAsync()
    {
        var managementPort = int.Parse(Environment.GetEnvironmentVariable("KBSYNC_TEST_RABBITMQ_MANAGEMENT_PORT") ?? "15672");
        if (DockerEngine.Answers())
        {
            _container = new RabbitMqBuilder("rabbitmq:3.13-management").WithUsername(Username).WithPassword(Password).WithPortBinding(15672, true).Build();
            await _container.StartAsync();
            Host = _container.Hostname;
            Port = _container.GetMappedPublicPort(5672);
            managementPort = _container.GetMappedPublicPort(15672);
        }

        await ConnectManagementAsync([(Host, Port, managementPort)]);
    }

    /// <summary>The brokers at these loopback ports (the first is <see cref="Host"/>:<see cref="Port"/>), already running.</summary>
    public static async Task<RabbitMqService> ForNodes(IReadOnlyList<(int AmqpPort, int ManagementPort)> nodes)
    {
        var service = new RabbitMqService { Host = "127.0.0.1", Port = nodes[0].AmqpPort };
        await service.ConnectManagementAsync(nodes.Select(n => ("127.0.0.1", n.AmqpPort, n.ManagementPort)).ToList());
        return service;
    }

    private async Task ConnectManagementAsync(IReadOnlyList<(string Host, int AmqpPort, int ManagementPort)> nodes)
    {
        Nodes = nodes.Select(n => $"{n.Host}:{n.AmqpPort}").ToList();
        _managementNodes = nodes.Select(n => new Uri($"http://{n.Host}:{n.ManagementPort}/api/")).ToList();
        _management = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        _management.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{Username}:{Password}")));
        using var overview = await ManagementAsync(HttpMethod.Get, "overview");
        overview.EnsureSuccessStatusCode();
    }

    /// <summary>
    /// A management API request to the node that answered last, or else to the next one that answers:
    /// any node of a cluster answers for all of it.
    /// </summary>
    internal async Task<HttpResponseMessage> ManagementAsync(HttpMethod method, string path, string? json = null, string? reason = null)
    {
        for (var tried = 1; ; tried++)
        {
            var node = _answering;
            using var request = new HttpRequestMessage(method, new Uri(_managementNodes[node], path));
            request.Content = json is null ? null : new StringContent(json, Encoding.UTF8, "application/json");
            if (reason is not null)
            {
                request.Headers.Add("X-Reason", reason);
            }

            try
            {
                return await _management.SendAsync(request);
            }
            catch (HttpRequestException) when (tried < _managementNodes.Count)
            {
                Interlocked.CompareExchange(ref _answering, (node + 1) % _managementNodes.Count, node);
            }
        }
    }

    /// <summary>A fresh virtual host the guest user may use; deleted when disposed.</summary>
    public async Task<RabbitVirtualHost> CreateVirtualHostAsync()
    {
        var name = "kbsync-test-" + Guid.NewGuid().ToString("N")[..12];
        (await ManagementAsync(HttpMethod.Put, $"vhosts/{name}")).EnsureSuccessStatusCode();
        (await ManagementAsync(HttpMethod.Put, $"permissions/{name}/{Username}", """{"configure":".*","write":".*","read":".*"}""")).EnsureSuccessStatusCode();
        return new RabbitVirtualHost(this, name);
    }

    /// <summary>Messages waiting in a queue (ready plus unacknowledged), from the management API.</summary>
    public async Task<string> GetQueueJsonAsync(string virtualHost, string queue)
    {
        using var response = await ManagementAsync(HttpMethod.Get, $"queues/{Uri.EscapeDataString(virtualHost)}/{Uri.EscapeDataString(queue)}");
        return response.IsSuccessStatusCode ? await response.Content.ReadAsStringAsync() : "";
    }

    /// <summary>Every queue of a virtual host, as the management API describes it (a JSON array).</summary>
    public async Task<string> GetQueuesJsonAsync(string virtualHost)
    {
        using var response = await ManagementAsync(HttpMethod.Get, $"queues/{Uri.EscapeDataString(virtualHost)}");
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadAsStringAsync();
    }

    /// <summary>The names of the client connections to a virtual host (the management API lists them a few seconds late).</summary>
    public async Task<IReadOnlyList<string>> ConnectionsAsync(string virtualHost)
    {
        using var response = await ManagementAsync(HttpMethod.Get, $"vhosts/{Uri.EscapeDataString(virtualHost)}/connections");
        response.EnsureSuccessStatusCode();
        using var json = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return json.RootElement.EnumerateArray().Select(c => c.GetProperty("name").GetString()!).ToList();
    }

    /// <summary>Closes a client connection from the broker's side, as a broker restart or a network cut would.</summary>
    public async Task CloseConnectionAsync(string name)
    {
        using var response = await ManagementAsync(HttpMethod.Delete, $"connections/{Uri.EscapeDataString(name)}", reason: "KbSync test: connection dropped");
        response.EnsureSuccessStatusCode();
    }

    internal Task DeleteVirtualHostAsync(string name) => ManagementAsync(HttpMethod.Delete, $"vhosts/{name}");

    /// <summary>A broker user (no tags) with full permissions on one virtual host, as a producer's own account would be.</summary>
    internal async Task CreateUserAsync(string virtualHost, string name, string password)
    {
        (await ManagementAsync(HttpMethod.Put, $"users/{Uri.EscapeDataString(name)}", System.Text.Json.JsonSerializer.Serialize(new { password, tags = "" }))).EnsureSuccessStatusCode();
        (await ManagementAsync(HttpMethod.Put, $"permissions/{Uri.EscapeDataString(virtualHost)}/{Uri.EscapeDataString(name)}", """{"configure":".*","write":".*","read":".*"}""")).EnsureSuccessStatusCode();
    }

    internal Task DeleteUserAsync(string name) => ManagementAsync(HttpMethod.Delete, $"users/{Uri.EscapeDataString(name)}");

    public async Task DisposeAsync()
    {
        _management?.Dispose();
        if (_container is not null)
        {
            await _container.DisposeAsync();
        }
    }
}

public sealed class RabbitVirtualHost(RabbitMqService service, string name) : IAsyncDisposable
{
    public string Name { get; } = name;
    public RabbitMqService Service { get; } = service;

    /// <summary>The settings a worker or producer needs, as environment variables (a cluster's nodes as <c>RabbitMq__Hosts__n</c>).</summary>
    public IReadOnlyDictionary<string, string> Environment(int partitions = Topology.DefaultPartitionCount)
    {
        var environment = new Dictionary<string, string>
        {
            ["RabbitMq__Host"] = Service.Host,
            ["RabbitMq__Port"] = Service.Port.ToString(),
            ["RabbitMq__VirtualHost"] = Name,
            ["RabbitMq__Username"] = Service.Username,
            ["RabbitMq__Password"] = Service.Password,
            ["RabbitMq__Partitions"] = partitions.ToString(),
        };
        if (Service.Nodes.Count > 1)
        {
            foreach (var (node, index) in Service.Nodes.Select((node, index) => (node, index)))
            {
                environment[$"RabbitMq__Hosts__{index}"] = node;
            }
        }

        return environment;
    }

    private readonly List<string> _users = [];

    /// <summary>A broker user of this virtual host, named after it (so runs never collide); deleted with it. Returns its name.</summary>
    public async Task<string> CreateUserAsync(string name, string password = "test-password")
    {
        var user = $"{Name}-{name}";
        await Service.CreateUserAsync(Name, user, password);
        _users.Add(user);
        return user;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var user in _users)
        {
            await Service.DeleteUserAsync(user);
        }

        await Service.DeleteVirtualHostAsync(Name);
    }
}

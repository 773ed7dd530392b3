using System.Net.Http.Headers;
using System.Text;
using KbSync.Contracts;
using Testcontainers.RabbitMq;

namespace KbSync.IntegrationTests.Fixtures;

/// <summary>
/// The real RabbitMQ the tests use: a Testcontainers broker where a Docker engine answers, otherwise
/// the one <c>./dev services up</c> started (overridable with <c>RabbitMq__Host</c>, <c>RabbitMq__Port</c>,
/// <c>KBSYNC_TEST_RABBITMQ_MANAGEMENT_PORT</c>). Each test gets its own virtual host, so tests and their
/// workers never see each other's queues.
/// </summary>
public sealed class RabbitMqService : IAsyncLifetime
{
    private RabbitMqContainer? _container;
    private HttpClient _management = null!;

    public string Host { get; private set; } = Environment.GetEnvironmentVariable("RabbitMq__Host") ?? "localhost";
    public int Port { get; private set; } = int.Parse(Environment.GetEnvironmentVariable("RabbitMq__Port") ?? "5672");
    public string Username { get; } = Environment.GetEnvironmentVariable("RabbitMq__Username") ?? "guest";
    public string Password { get; } = Environment.GetEnvironmentVariable("RabbitMq__Password") ?? "guest";

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

        _management = new HttpClient { BaseAddress = new Uri($"http://{Host}:{managementPort}/api/"), Timeout = TimeSpan.FromSeconds(30) };
        _management.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{Username}:{Password}")));
        using var overview = await _management.GetAsync("overview");
        overview.EnsureSuccessStatusCode();
    }

    /// <summary>A fresh virtual host the guest user may use; deleted when disposed.</summary>
    public async Task<RabbitVirtualHost> CreateVirtualHostAsync()
    {
        var name = "kbsync-test-" + Guid.NewGuid().ToString("N")[..12];
        (await _management.PutAsync($"vhosts/{name}", null)).EnsureSuccessStatusCode();
        var permissions = new StringContent("""{"configure":".*","write":".*","read":".*"}""", Encoding.UTF8, "application/json");
        (await _management.PutAsync($"permissions/{name}/{Username}", permissions)).EnsureSuccessStatusCode();
        return new RabbitVirtualHost(this, name);
    }

    /// <summary>Messages waiting in a queue (ready plus unacknowledged), from the management API.</summary>
    public async Task<string> GetQueueJsonAsync(string virtualHost, string queue)
    {
        using var response = await _management.GetAsync($"queues/{Uri.EscapeDataString(virtualHost)}/{Uri.EscapeDataString(queue)}");
        return response.IsSuccessStatusCode ? await response.Content.ReadAsStringAsync() : "";
    }

    /// <summary>The names of the client connections to a virtual host (the management API lists them a few seconds late).</summary>
    public async Task<IReadOnlyList<string>> ConnectionsAsync(string virtualHost)
    {
        using var response = await _management.GetAsync($"vhosts/{Uri.EscapeDataString(virtualHost)}/connections");
        response.EnsureSuccessStatusCode();
        using var json = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return json.RootElement.EnumerateArray().Select(c => c.GetProperty("name").GetString()!).ToList();
    }

    /// <summary>Closes a client connection from the broker's side, as a broker restart or a network cut would.</summary>
    public async Task CloseConnectionAsync(string name)
    {
        using var request = new HttpRequestMessage(HttpMethod.Delete, $"connections/{Uri.EscapeDataString(name)}");
        request.Headers.Add("X-Reason", "KbSync test: connection dropped");
        using var response = await _management.SendAsync(request);
        response.EnsureSuccessStatusCode();
    }

    internal Task DeleteVirtualHostAsync(string name) => _management.DeleteAsync($"vhosts/{name}");

    /// <summary>A broker user (no tags) with full permissions on one virtual host, as a producer's own account would be.</summary>
    internal async Task CreateUserAsync(string virtualHost, string name, string password)
    {
        var user = new StringContent(System.Text.Json.JsonSerializer.Serialize(new { password, tags = "" }), Encoding.UTF8, "application/json");
        (await _management.PutAsync($"users/{Uri.EscapeDataString(name)}", user)).EnsureSuccessStatusCode();
        var permissions = new StringContent("""{"configure":".*","write":".*","read":".*"}""", Encoding.UTF8, "application/json");
        (await _management.PutAsync($"permissions/{Uri.EscapeDataString(virtualHost)}/{Uri.EscapeDataString(name)}", permissions)).EnsureSuccessStatusCode();
    }

    internal Task DeleteUserAsync(string name) => _management.DeleteAsync($"users/{Uri.EscapeDataString(name)}");

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

    /// <summary>The settings a worker or producer needs, as environment variables.</summary>
    public IReadOnlyDictionary<string, string> Environment(int partitions = Topology.DefaultPartitionCount) => new Dictionary<string, string>
    {
        ["RabbitMq__Host"] = Service.Host,
        ["RabbitMq__Port"] = Service.Port.ToString(),
        ["RabbitMq__VirtualHost"] = Name,
        ["RabbitMq__Username"] = Service.Username,
        ["RabbitMq__Password"] = Service.Password,
        ["RabbitMq__Partitions"] = partitions.ToString(),
    };

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

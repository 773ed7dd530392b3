using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using Npgsql;

namespace KbSync.Benchmarks.Infrastructure;

/// <summary>The machine and the versions a run was measured on, printed above every result.</summary>
public sealed record MachineInfo(IReadOnlyList<(string Name, string Value)> Facts)
{
    public static async Task<MachineInfo> CollectAsync(BenchSettings settings, CancellationToken cancellationToken)
    {
        var facts = new List<(string, string)>
        {
            ("product", await ProductVersionAsync()),
            ("cpu", $"{CpuModel()} ({Environment.ProcessorCount} logical CPUs available, nproc)"),
            ("memory", MemoryTotal()),
            ("load", $"{LoadAverage()} (1, 5, 15 min averages at start; other processes on the machine add noise)"),
            ("os", $"{OsName()} (kernel {ReadFirstLine("/proc/sys/kernel/osrelease") ?? "?"}, {RuntimeInformation.OSArchitecture})"),
            ("dotnet", $"SDK {await ProcessRunner.FirstLineOrUnknownAsync("dotnet", "--version")}, runtime {RuntimeInformation.FrameworkDescription}, {settings.Configuration} build"),
            ("git", await ProcessRunner.FirstLineOrUnknownAsync("git", "--version")),
            ("libgit2", LibGit2Version(settings.WorkerDll)),
            ("rabbitmq", await RabbitVersionAsync(settings, cancellationToken)),
            ("postgresql", await PostgresVersionAsync(settings, cancellationToken)),
        };
        return new MachineInfo(facts);
    }

    public IEnumerable<string> Lines()
    {
        var width = Facts.Max(f => f.Name.Length);
        return Facts.Select(f => $"  {f.Name.PadRight(width)}  {f.Value}");
    }

    /// <summary>The commit the binaries were built from, and whether src/ had uncommitted changes.</summary>
    private static async Task<string> ProductVersionAsync()
    {
        var root = BenchSettings.RepositoryRoot();
        var head = await ProcessRunner.FirstLineOrUnknownAsync("git", "-C", root, "log", "-1", "--format=%h %s");
        var dirty = await ProcessRunner.RunAsync("git", ["-C", root, "status", "--porcelain", "--", "src"]);
        var changed = dirty.ExitCode == 0 ? dirty.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length : 0;
        return $"commit {head}{(changed > 0 ? $" + uncommitted changes in {changed} file(s) under src/" : "")}";
    }

    /// <summary>The 1, 5 and 15 minute load averages from /proc/loadavg.</summary>
    public static string LoadAverage() =>
        ReadFirstLine("/proc/loadavg") is { } line ? string.Join(' ', line.Split(' ').Take(3)) : "unknown";

    private static string CpuModel()
    {
        try
        {
            var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
            return line is null ? RuntimeInformation.ProcessArchitecture.ToString() : line[(line.IndexOf(':') + 1)..].Trim();
        }
        catch (IOException)
        {
            return "unknown";
        }
    }

    private static string MemoryTotal()
    {
        try
        {
            var line = File.ReadLines("/proc/meminfo").FirstOrDefault(l => l.StartsWith("MemTotal:", StringComparison.Ordinal));
            var kb = long.Parse(line!.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
            return $"{kb / 1024.0 / 1024.0:0.0} GiB";
        }
        catch (Exception error) when (error is IOException or FormatException or NullReferenceException)
        {
            return "unknown";
        }
    }

    private static string OsName()
    {
        try
        {
            var line = File.ReadLines("/etc/os-release").FirstOrDefault(l => l.StartsWith("PRETTY_NAME=", StringComparison.Ordinal));
            return line is null ? RuntimeInformation.OSDescription : line["PRETTY_NAME=".Length..].Trim('"');
        }
        catch (IOException)
        {
            return RuntimeInformation.OSDescription;
        }
    }

    private static string? ReadFirstLine(string path)
    {
        try
        {
            return File.ReadLines(path).FirstOrDefault()?.Trim();
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>The LibGit2Sharp the worker ships (its native libgit2 is inside that package).</summary>
    private static string LibGit2Version(string workerDll)
    {
        var path = Path.Combine(Path.GetDirectoryName(workerDll)!, "LibGit2Sharp.dll");
        return File.Exists(path) ? $"LibGit2Sharp {FileVersionInfo.GetVersionInfo(path).ProductVersion?.Split('+')[0]} (in the worker)" : "unknown";
    }

    private static async Task<string> RabbitVersionAsync(BenchSettings settings, CancellationToken cancellationToken)
    {
        try
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
            http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue(
                "Basic", Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"{settings.RabbitUser}:{settings.RabbitPassword}")));
            using var overview = JsonDocument.Parse(await http.GetStringAsync($"http://{settings.RabbitHost}:{settings.RabbitManagementPort}/api/overview", cancellationToken));
            var root = overview.RootElement;
            return $"RabbitMQ {root.GetProperty("rabbitmq_version").GetString()} (Erlang {root.GetProperty("erlang_version").GetString()})";
        }
        catch (Exception error) when (error is HttpRequestException or JsonException or KeyNotFoundException or TaskCanceledException)
        {
            return "unknown";
        }
    }

    private static async Task<string> PostgresVersionAsync(BenchSettings settings, CancellationToken cancellationToken)
    {
        try
        {
            await using var connection = new NpgsqlConnection(settings.AdminConnectionString);
            await connection.OpenAsync(cancellationToken);
            await using var command = new NpgsqlCommand("SHOW server_version", connection);
            return "PostgreSQL " + (string)(await command.ExecuteScalarAsync(cancellationToken))!;
        }
        catch (NpgsqlException)
        {
            return "unknown";
        }
    }
}

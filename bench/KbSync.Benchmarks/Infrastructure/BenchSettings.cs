using KbSync.Persistence;

namespace KbSync.Benchmarks.Infrastructure;

/// <summary>
/// Where the services and the product binaries are: the same environment variables the worker,
/// the CLI and the tests read, with the defaults <c>./dev services up</c> provides.
/// </summary>
public sealed class BenchSettings
{
    public string RabbitHost { get; init; } = Env("RabbitMq__Host") ?? "localhost";
    public int RabbitPort { get; init; } = int.Parse(Env("RabbitMq__Port") ?? "5672");
    public int RabbitManagementPort { get; init; } = int.Parse(Env("KBSYNC_RABBIT_MGMT_PORT") ?? "15672");
    public string RabbitUser { get; init; } = Env("RabbitMq__Username") ?? "guest";
    public string RabbitPassword { get; init; } = Env("RabbitMq__Password") ?? "guest";

    /// <summary>An account that may <c>CREATE DATABASE</c>; each scenario gets its own database next to this one.</summary>
    public string AdminConnectionString { get; init; } = Env("ConnectionStrings__KbSync") ?? PersistenceExtensions.DevelopmentConnectionString;

    public string WorkerDll { get; init; } = Env("KBSYNC_BENCH_WORKER_DLL") ?? BuiltPrograms.Worker;
    public string CliDll { get; init; } = Env("KBSYNC_BENCH_CLI_DLL") ?? BuiltPrograms.Cli;

    /// <summary>The build configuration of this program (and so of the product binaries next to it).</summary>
    public string Configuration { get; } = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Name;

    /// <summary>The repository root (the folder holding KbSync.sln above this program), else the current folder.</summary>
    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "KbSync.sln")))
            {
                return dir.FullName;
            }
        }

        return Directory.GetCurrentDirectory();
    }

    public void EnsureBinaries()
    {
        foreach (var dll in new[] { WorkerDll, CliDll })
        {
            if (!File.Exists(dll))
            {
                throw new FileNotFoundException($"{dll} is not built: build the solution first (./dev bench does).");
            }
        }
    }

    private static string? Env(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } value ? value : null;
}

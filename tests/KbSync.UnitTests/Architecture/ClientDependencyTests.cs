using System.Text.Json;
using KbSync.Producer.Client;

namespace KbSync.UnitTests.Architecture;

/// <summary>
/// The .NET client library (<c>src/Producer/Client</c>) is what every .NET producer references: it
/// depends on Contracts and MassTransit only, never on the history database's code or drivers. Read
/// from what the build made of it: its <c>KbSync.Client.deps.json</c> (every package and project it
/// brings along, transitively) and the assembly references compiled into <c>KbSync.Client.dll</c>.
/// </summary>
public sealed class ClientDependencyTests
{
    /// <summary>Packages of the history database and of the executable's telemetry (KbSync's own projects are checked by name).</summary>
    private static readonly string[] Forbidden = ["Npgsql", "Microsoft.EntityFrameworkCore", "EFCore.", "OpenTelemetry"];

    [Fact]
    public void The_client_brings_along_contracts_and_massTransit_and_nothing_of_persistence_ef_core_or_npgsql()
    {
        var libraries = ClientLibraries();

        Assert.Contains("KbSync.Contracts", libraries); // the file is read right: it lists what the client does depend on
        Assert.Contains("MassTransit.RabbitMQ", libraries);
        Assert.DoesNotContain(libraries, l => Forbidden.Any(f => l.StartsWith(f, StringComparison.OrdinalIgnoreCase)));
        Assert.Equal(["KbSync.Client", "KbSync.Contracts"], libraries.Where(l => l.StartsWith("KbSync", StringComparison.OrdinalIgnoreCase)).Order()); // not Persistence, not the executable
    }

    [Fact]
    public void The_client_assembly_references_no_persistence_ef_core_or_npgsql_assembly()
    {
        var references = typeof(KbSyncClient).Assembly.GetReferencedAssemblies().Select(a => a.Name!).ToList();

        Assert.Equal("KbSync.Client", typeof(KbSyncClient).Assembly.GetName().Name);
        Assert.Contains("KbSync.Contracts", references);
        Assert.Contains("MassTransit", references);
        Assert.DoesNotContain(references, r => Forbidden.Any(f => r.StartsWith(f, StringComparison.OrdinalIgnoreCase)));
        Assert.Equal(["KbSync.Contracts"], references.Where(r => r.StartsWith("KbSync", StringComparison.OrdinalIgnoreCase))); // not Persistence, not the kbsync executable
    }

    /// <summary>The names of the libraries (packages and projects) in the client's deps.json, built beside this test's output.</summary>
    private static List<string> ClientLibraries()
    {
        var testOutput = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)); // artifacts/bin/KbSync.UnitTests/<configuration>
        var deps = Path.Combine(testOutput.Parent!.Parent!.FullName, "KbSync.Client", testOutput.Name, "KbSync.Client.deps.json");
        Assert.True(File.Exists(deps), $"The client's dependency file is not built at {deps}: build the solution first.");
        using var document = JsonDocument.Parse(File.ReadAllText(deps));
        return document.RootElement.GetProperty("libraries").EnumerateObject().Select(library => library.Name.Split('/')[0]).ToList();
    }
}

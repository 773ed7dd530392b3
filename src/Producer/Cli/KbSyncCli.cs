using System.CommandLine;
using KbSync.Producer.Client;

namespace KbSync.Producer.Cli;

/// <summary>The <c>kbsync</c> command line. Exit codes: 0 ok, 1 the operation failed or an error occurred, 2 bad input, 3 not found.</summary>
internal static class KbSyncCli
{
    public static RootCommand CreateRoot() => new("KbSync: many writers, one git knowledge base, no conflicts.")
    {
        KbCommands.Create(),
        NoteCommand.Create(),
        AgentCommand.Create(),
        HistoryCommands.Status(),
        HistoryCommands.History(),
        StatsCommand.Create(),
        DbCommands.Create(),
        IdentityCommands.User(),
        IdentityCommands.Token(),
        IdentityCommands.Grant(),
        IdentityCommands.Revoke(),
        Api.ApiCommand.Create(),
    };

    /// <summary>Runs a command body with its services; turns errors into a one-line message and an exit code.</summary>
    public static async Task<int> RunAsync(Func<CliHost, Task<int>> body, CancellationToken cancellationToken)
    {
        if (Console.IsOutputRedirected)
        {
            Spectre.Console.AnsiConsole.Profile.Width = 240; // tables in files and pipes are not cut to 80 columns
        }

        try
        {
            await using var host = await CliHost.CreateAsync(cancellationToken);
            return await body(host);
        }
        catch (ArgumentException error)
        {
            await Console.Error.WriteLineAsync($"error: {error.Message}");
            return 2;
        }
        catch (Exception error) when (error is KbSyncPublishException or TimeoutException)
        {
            await Console.Error.WriteLineAsync($"error: {error.Message}");
            return 1;
        }
        catch (KeyNotFoundException error)
        {
            await Console.Error.WriteLineAsync($"error: {error.Message}");
            return 3;
        }
        catch (Npgsql.NpgsqlException error)
        {
            await Console.Error.WriteLineAsync($"error: the history database did not answer ({error.Message}). Is it running (./dev services up) and is ConnectionStrings__KbSync right?");
            return 1;
        }
        catch (MassTransit.RabbitMqConnectionException error)
        {
            await Console.Error.WriteLineAsync($"error: RabbitMQ did not answer ({error.Message}). Is it running (./dev services up) and are RabbitMq__Host/Port right?");
            return 1;
        }
    }
}

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
        PartitionCommands.Create(),
        IdentityCommands.User(),
        IdentityCommands.Token(),
        IdentityCommands.Grant(),
        IdentityCommands.Revoke(),
        Api.ApiCommand.Create(),
    };

    /// <summary>
    /// Parses and runs a command line. A parse error (an unknown option, a missing or malformed value)
    /// is bad input like any other: one line on standard error and exit code 2, not System.CommandLine's
    /// default of the error, the whole help and exit code 1.
    /// </summary>
    public static async Task<int> InvokeAsync(string[] args)
    {
        var parse = CreateRoot().Parse(args);
        if (parse.Errors.Count > 0)
        {
            await Console.Error.WriteLineAsync(CliErrors.Describe(parse));
            return CliErrors.BadInput;
        }

        return await parse.InvokeAsync();
    }

    /// <summary>Runs a command that reads or changes the database (migrated first), with its services; turns errors into a one-line message and an exit code.</summary>
    public static Task<int> RunAsync(Func<CliHost, Task<int>> body, CancellationToken cancellationToken) =>
        RunAsync(body, migrate: true, cancellationToken);

    /// <summary>Runs a command that only publishes to the broker (<c>note</c>, <c>agent</c>): the database is neither migrated nor opened for it.</summary>
    public static Task<int> PublishAsync(Func<CliHost, Task<int>> body, CancellationToken cancellationToken) =>
        RunAsync(body, migrate: false, cancellationToken);

    private static async Task<int> RunAsync(Func<CliHost, Task<int>> body, bool migrate, CancellationToken cancellationToken)
    {
        if (Console.IsOutputRedirected)
        {
            Spectre.Console.AnsiConsole.Profile.Width = 240; // tables in files and pipes are not cut to 80 columns
        }

        try
        {
            await using var host = await CliHost.CreateAsync(migrate, cancellationToken);
            return await body(host);
        }
        catch (ArgumentException error)
        {
            await Console.Error.WriteLineAsync($"error: {Api.ApiArguments.ReasonOf(error)}");
            return CliErrors.BadInput;
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
            await Console.Error.WriteLineAsync($"error: RabbitMQ did not answer ({error.Message}). Is it running (./dev services up) and are RabbitMq__Host/Port (or RabbitMq__Hosts__<n>) right?");
            return 1;
        }
    }
}

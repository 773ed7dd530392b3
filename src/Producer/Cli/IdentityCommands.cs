using System.CommandLine;
using KbSync.Persistence.Identity;
using Spectre.Console;

namespace KbSync.Producer.Cli;

/// <summary>
/// <c>kbsync user add|list|disable</c>, <c>kbsync token create|revoke</c>, <c>kbsync grant|revoke</c>:
/// who may do what. These work on the database directly: whoever holds the database's credentials
/// is an administrator already (docs: README, "Security model").
/// </summary>
internal static class IdentityCommands
{
    public static Command User()
    {
        var user = new Command("user", "Principals: people, bots and services that may act on KBs.");
        user.Subcommands.Add(AddUser());
        user.Subcommands.Add(ListUsers());
        user.Subcommands.Add(DisableUser());
        return user;
    }

    public static Command Token()
    {
        var token = new Command("token", "API tokens (bearer tokens for the HTTP API and the dashboard).");
        var name = new Argument<string>("user") { Description = "The principal the token signs in as." };
        var label = new Option<string>("--label") { Description = "What the token is for.", DefaultValueFactory = _ => "cli" };
        var create = new Command("create", "Create a token; it is shown once, only its hash is kept.") { name, label };
        create.SetAction((parse, cancellationToken) => KbSyncCli.RunAsync(async host =>
        {
            var (id, secret) = await host.Services.GetRequiredService<IdentityStore>().CreateTokenAsync(parse.GetValue(name)!, parse.GetValue(label)!, cancellationToken);
            Console.Error.WriteLine($"Token {id} for {parse.GetValue(name)} (shown once; revoke with 'kbsync token revoke {id}'):");
            Console.WriteLine(secret);
            return 0;
        }, cancellationToken));

        var tokenId = new Argument<Guid>("token-id") { Description = "The id printed when the token was created." };
        var revoke = new Command("revoke", "Revoke a token.") { tokenId };
        revoke.SetAction((parse, cancellationToken) => KbSyncCli.RunAsync(async host =>
        {
            await host.Services.GetRequiredService<IdentityStore>().RevokeTokenAsync(parse.GetValue(tokenId), cancellationToken);
            Console.WriteLine($"Revoked token {parse.GetValue(tokenId)}.");
            return 0;
        }, cancellationToken));

        token.Subcommands.Add(create);
        token.Subcommands.Add(revoke);
        return token;
    }

    public static Command Grant() => GrantCommand("grant", "Give a principal a right on a KB.", (store, kb, user, right, ct) => store.GrantAsync(kb, user, right, ct), "Granted");

    public static Command Revoke() => GrantCommand("revoke", "Take a right on a KB from a principal.", (store, kb, user, right, ct) => store.RevokeGrantAsync(kb, user, right, ct), "Revoked");

    private static Command AddUser()
    {
        var name = new Argument<string>("name") { Description = "Unique name: letters, digits, '-', '_', '.'." };
        var email = new Option<string>("--email") { Description = "Committer e-mail for what this principal writes.", Required = true };
        var role = new Option<string>("--role") { Description = "admin or member.", DefaultValueFactory = _ => Roles.Member };
        var brokerUser = new Option<string?>("--broker-user") { Description = "The RabbitMQ user whose requests are this principal's (AMQP producers)." };
        var relay = new Option<bool>("--relay") { Description = "A trusted relay (the HTTP API): its requests may act for another principal." };
        var command = new Command("add", "Add a principal.") { name, email, role, brokerUser, relay };
        command.SetAction((parse, cancellationToken) => KbSyncCli.RunAsync(async host =>
        {
            var principal = await host.Services.GetRequiredService<IdentityStore>().AddPrincipalAsync(
                parse.GetValue(name)!, parse.GetValue(email)!, parse.GetValue(role)!, parse.GetValue(brokerUser), parse.GetValue(relay), cancellationToken);
            Console.WriteLine($"Added {principal.Name} ({principal.Role}{(principal.BrokerUser is null ? "" : $", broker user {principal.BrokerUser}")}{(principal.Relay ? ", relay" : "")}).");
            return 0;
        }, cancellationToken));
        return command;
    }

    private static Command ListUsers()
    {
        var command = new Command("list", "List the principals.");
        command.SetAction((_, cancellationToken) => KbSyncCli.RunAsync(async host =>
        {
            var table = new Table().AddColumns("Name", "E-mail", "Role", "Broker user", "Relay", "Disabled");
            foreach (var p in await host.Services.GetRequiredService<IdentityStore>().ListPrincipalsAsync(cancellationToken))
            {
                table.AddRow(Markup.Escape(p.Name), Markup.Escape(p.Email), p.Role, Markup.Escape(p.BrokerUser ?? ""), p.Relay ? "yes" : "", p.DisabledAt?.ToString("u") ?? "");
            }

            AnsiConsole.Write(table);
            return 0;
        }, cancellationToken));
        return command;
    }

    private static Command DisableUser()
    {
        var name = new Argument<string>("name");
        var command = new Command("disable", "Disable a principal: its tokens and broker user are refused from now on.") { name };
        command.SetAction((parse, cancellationToken) => KbSyncCli.RunAsync(async host =>
        {
            await host.Services.GetRequiredService<IdentityStore>().DisableAsync(parse.GetValue(name)!, cancellationToken);
            Console.WriteLine($"Disabled {parse.GetValue(name)}.");
            return 0;
        }, cancellationToken));
        return command;
    }

    private static Command GrantCommand(string verb, string description, Func<IdentityStore, string, string, string, CancellationToken, Task> change, string done)
    {
        var kb = new Argument<string>("kb");
        var user = new Argument<string>("user");
        var right = new Argument<string>("right") { Description = string.Join(", ", KbRights.All) + "." };
        var command = new Command(verb, description) { kb, user, right };
        command.SetAction((parse, cancellationToken) => KbSyncCli.RunAsync(async host =>
        {
            await change(host.Services.GetRequiredService<IdentityStore>(), parse.GetValue(kb)!, parse.GetValue(user)!, parse.GetValue(right)!, cancellationToken);
            Console.WriteLine($"{done} {parse.GetValue(right)} on {parse.GetValue(kb)} for {parse.GetValue(user)}.");
            return 0;
        }, cancellationToken));
        return command;
    }
}

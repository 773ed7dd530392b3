using KbSync.Contracts;
using KbSync.KbWorker.Pipeline;
using KbSync.Persistence.Identity;

namespace KbSync.KbWorker.Identity;

/// <summary>
/// Decides who a request is and whether it may do what it asks, from what the broker proves, never
/// from the body: the message's <c>user_id</c> (RabbitMQ refuses a publish whose <c>user_id</c> is not
/// the connection's user) names a principal's broker user; a trusted relay (the HTTP API) may name the
/// principal it publishes for (<see cref="KbRequest.OnBehalfOf"/>). The principal needs <c>write</c>
/// on the KB for a note and <c>agent</c> for an agent task. Anything else fails the request with
/// <c>unauthorized</c> before any git work.
/// </summary>
public sealed class RequestAuthorization(IdentityStore identities)
{
    public async Task AuthorizeAsync(IReadOnlyList<PendingOperation> operations, CancellationToken cancellationToken)
    {
        var principals = new Dictionary<(string BrokerUser, string? OnBehalfOf), (Principal? Principal, string? Problem)>();
        var rights = new Dictionary<(Guid Principal, string Kb), IReadOnlySet<string>>();
        foreach (var operation in operations.Where(o => o.Outcome is null))
        {
            var request = operation.Request;
            if (request.BrokerUser is not { Length: > 0 } brokerUser)
            {
                operation.Fail(ReasonCodes.Unauthorized, "The request carries no user_id: publish it with the user_id property set to your RabbitMQ user (the broker checks it), so KbSync knows who asks (docs/wire-format.md).");
                continue;
            }

            var key = (brokerUser, request.OnBehalfOf);
            if (!principals.TryGetValue(key, out var resolved))
            {
                principals[key] = resolved = await ResolveAsync(brokerUser, request.OnBehalfOf, cancellationToken);
            }

            if (resolved.Principal is not { } principal)
            {
                operation.Fail(ReasonCodes.Unauthorized, resolved.Problem!);
                continue;
            }

            if (!rights.TryGetValue((principal.Id, request.KbId), out var held))
            {
                rights[(principal.Id, request.KbId)] = held = await identities.RightsOnAsync(principal, request.KbId, cancellationToken);
            }

            var needed = request.Kind == OperationKind.Agent ? KbRights.Agent : KbRights.Write;
            if (!held.Contains(needed))
            {
                operation.Fail(ReasonCodes.Unauthorized, $"{principal.Name} has no '{needed}' right on KB '{request.KbId}': ask someone with 'manage' on it (kbsync grant {request.KbId} {principal.Name} {needed}).");
                continue;
            }

            operation.Principal = principal;
            operation.MayManage = held.Contains(KbRights.Manage);
        }
    }

    private async Task<(Principal?, string?)> ResolveAsync(string brokerUser, string? onBehalfOf, CancellationToken cancellationToken)
    {
        var publisher = await identities.FindByBrokerUserAsync(brokerUser, cancellationToken);
        if (publisher is null)
        {
            return (null, $"The RabbitMQ user '{brokerUser}' is not an active KbSync principal: add it with 'kbsync user add <name> --broker-user {brokerUser}'.");
        }

        if (onBehalfOf is null)
        {
            return (publisher, null);
        }

        if (!publisher.Relay)
        {
            return (null, $"{publisher.Name} asked to act for another principal, but only a trusted relay may.");
        }

        if (!IdentityStore.IsName(onBehalfOf))
        {
            return (null, $"The relay {publisher.Name} acts for a principal whose name cannot be one (onBehalfOf: letters, digits, '-', '_', '.').");
        }

        return await identities.FindAsync(onBehalfOf, cancellationToken) is { } principal
            ? (principal, null)
            : (null, $"The relay {publisher.Name} acts for '{onBehalfOf}', who is not an active KbSync principal.");
    }
}

namespace KbSync.Persistence.Entities;

/// <summary>
/// Someone or something that may act on KBs: a person, a bot or a service. Authenticated by an API
/// token (<see cref="ApiTokenRecord"/>) over HTTP, or as its RabbitMQ user (<see cref="BrokerUser"/>,
/// the broker-validated <c>user_id</c> of a request) over AMQP.
/// </summary>
public sealed class PrincipalRecord
{
    public Guid Id { get; set; }

    /// <summary>Unique; what grants, history and the <c>KbSync-Principal</c> commit trailer name.</summary>
    public string Name { get; set; } = "";

    /// <summary>The committer's e-mail for what this principal writes.</summary>
    public string Email { get; set; } = "";

    /// <summary><c>admin</c> (every right on every KB, and the principals and grants) or <c>member</c> (its grants).</summary>
    public string Role { get; set; } = "";

    /// <summary>The RabbitMQ user whose requests are this principal's; null: it does not publish over AMQP.</summary>
    public string? BrokerUser { get; set; }

    /// <summary>A trusted relay (the HTTP API): its requests may name another principal to act for.</summary>
    public bool Relay { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    /// <summary>Set when disabled: its tokens and broker user are refused from then on.</summary>
    public DateTimeOffset? DisabledAt { get; set; }
}

/// <summary>An API token: only its SHA-256 is stored; the token itself is shown once, when created.</summary>
public sealed class ApiTokenRecord
{
    public Guid Id { get; set; }
    public Guid PrincipalId { get; set; }
    public string Label { get; set; } = "";
    public byte[] Hash { get; set; } = [];
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset? RevokedAt { get; set; }
}

/// <summary>One right of one principal on one KB (<c>read</c>, <c>write</c>, <c>agent</c>, <c>manage</c>).</summary>
public sealed class KbGrantRecord
{
    public string KbId { get; set; } = "";
    public Guid PrincipalId { get; set; }
    public string Right { get; set; } = "";
}

using KbSync.Contracts;
using KbSync.Persistence.Entities;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;

namespace KbSync.Persistence.KnowledgeBases;

/// <summary>
/// The registered KBs: where each one's remote is, which branch KbSync writes to and which variable
/// holds its token. Every registration is checked against <see cref="RemoteRules"/>, and no two KBs
/// may share a token variable or a remote branch: a KB that could name another KB's token or write to
/// another KB's branch would reach into a KB its registrant was never given.
/// </summary>
public sealed class KbRegistry
{
    private readonly IDbContextFactory<KbSyncDbContext> _contexts;
    private readonly RemoteRules _rules;

    public KbRegistry(IDbContextFactory<KbSyncDbContext> contexts, RemoteRules rules)
    {
        _contexts = contexts;
        _rules = rules;
    }

    /// <summary>A registry outside dependency injection (tools, benchmarks): the rules come from this process's <c>Remotes__*</c> environment variables.</summary>
    public KbRegistry(IDbContextFactory<KbSyncDbContext> contexts)
        : this(contexts, RemoteRulesFromEnvironment())
    {
    }

    /// <summary>Registers a KB, or updates it when <paramref name="replace"/> is set. Throws <see cref="ArgumentException"/> for bad input.</summary>
    public async Task<KnowledgeBaseRecord> AddAsync(KbRegistration registration, bool replace = false, CancellationToken cancellationToken = default)
    {
        var record = registration.ToRecord(DateTimeOffset.UtcNow, _rules);
        await using var db = await _contexts.CreateDbContextAsync(cancellationToken);
        var existing = await db.KnowledgeBases.FindAsync([record.Id], cancellationToken);
        if (existing is not null && !replace)
        {
            throw new ArgumentException($"KB '{record.Id}' is already registered (remote {existing.RemoteUrl ?? "none"}, branch {existing.Branch}); pass --replace to change it.");
        }

        await RefuseSharedAsync(db, record, cancellationToken);
        if (existing is null)
        {
            db.KnowledgeBases.Add(record);
        }
        else
        {
            existing.RemoteUrl = record.RemoteUrl;
            existing.Branch = record.Branch;
            existing.TokenEnv = record.TokenEnv;
            record = existing;
        }

        await db.SaveChangesAsync(cancellationToken);
        return record;
    }

    /// <summary>
    /// Changes a KB's protected paths: <paramref name="edit"/> gets the list as it is (null: the defaults) and returns
    /// the new one (see <see cref="ProtectedPathList.Edit"/>). The row is locked while it is edited, so two edits at
    /// once are applied one after the other and neither is lost. Throws <see cref="KeyNotFoundException"/> for an
    /// unknown KB. Workers use the new list from the next request they run for the KB.
    /// </summary>
    public async Task<KnowledgeBaseRecord> SetProtectedPathsAsync(string kbId, Func<IReadOnlyList<string>?, List<string>?> edit, CancellationToken cancellationToken = default)
    {
        await using var db = await _contexts.CreateDbContextAsync(cancellationToken);
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var record = await db.KnowledgeBases.FromSql($"SELECT * FROM knowledge_bases WHERE id = {kbId} FOR UPDATE").SingleOrDefaultAsync(cancellationToken)
            ?? throw new KeyNotFoundException($"No KB '{kbId}' is registered.");
        record.ProtectedPaths = edit(record.ProtectedPaths);
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return record;
    }

    public async Task<KnowledgeBaseRecord?> FindAsync(string kbId, CancellationToken cancellationToken = default)
    {
        await using var db = await _contexts.CreateDbContextAsync(cancellationToken);
        return await db.KnowledgeBases.AsNoTracking().SingleOrDefaultAsync(k => k.Id == kbId, cancellationToken);
    }

    public async Task<IReadOnlyList<KnowledgeBaseRecord>> ListAsync(CancellationToken cancellationToken = default)
    {
        await using var db = await _contexts.CreateDbContextAsync(cancellationToken);
        return await db.KnowledgeBases.AsNoTracking().OrderBy(k => k.Id).ToListAsync(cancellationToken);
    }

    private static async Task RefuseSharedAsync(KbSyncDbContext db, KnowledgeBaseRecord record, CancellationToken cancellationToken)
    {
        var others = await db.KnowledgeBases.AsNoTracking().Where(k => k.Id != record.Id).ToListAsync(cancellationToken);
        if (record.TokenEnv is { } token && others.FirstOrDefault(k => k.TokenEnv == token) is { } tokenOwner)
        {
            throw new ArgumentException($"The token variable {token} is KB '{tokenOwner.Id}'s: each KB names a variable of its own (set the same value in two variables to share a token).");
        }

        if (record.RemoteUrl is { } remote && others.FirstOrDefault(k => k.RemoteUrl is not null && k.Branch == record.Branch && RemoteUrls.SameRepository(k.RemoteUrl, remote)) is { } remoteOwner)
        {
            throw new ArgumentException($"KB '{remoteOwner.Id}' already writes to branch {record.Branch} of {remoteOwner.RemoteUrl}: two KBs may not share a branch.");
        }
    }

    private static RemoteRules RemoteRulesFromEnvironment()
    {
        var options = new RemoteOptions();
        new ConfigurationBuilder().AddEnvironmentVariables().Build().GetSection(RemoteOptions.Section).Bind(options);
        return new RemoteRules(options);
    }
}

/// <summary>What a user gives to register a KB; <see cref="ToRecord"/> checks it.</summary>
public sealed record KbRegistration(string KbId, string? Remote, string Branch = "main", string? TokenEnv = null)
{
    /// <summary>The registry row, once the KB id, the remote, the branch and the token variable pass <paramref name="rules"/>.</summary>
    public KnowledgeBaseRecord ToRecord(DateTimeOffset now, RemoteRules rules) => new()
    {
        Id = KbIds.Validate(KbId),
        RemoteUrl = Remote is null ? null : rules.CheckRemote(Remote),
        Branch = BranchNames.Validate(Branch),
        TokenEnv = rules.CheckTokenEnv(TokenEnv),
        CreatedAt = now,
    };
}

using KbSync.Contracts;
using KbSync.Persistence.Entities;
using Microsoft.EntityFrameworkCore;

namespace KbSync.Persistence.KnowledgeBases;

/// <summary>The registered KBs: where each one's remote is and which branch KbSync writes to.</summary>
public sealed class KbRegistry(IDbContextFactory<KbSyncDbContext> contexts)
{
    /// <summary>Registers a KB, or updates it when <paramref name="replace"/> is set. Throws <see cref="ArgumentException"/> for bad input.</summary>
    public async Task<KnowledgeBaseRecord> AddAsync(KbRegistration registration, bool replace = false, CancellationToken cancellationToken = default)
    {
        var record = registration.ToRecord(DateTimeOffset.UtcNow);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var existing = await db.KnowledgeBases.FindAsync([record.Id], cancellationToken);
        if (existing is not null && !replace)
        {
            throw new ArgumentException($"KB '{record.Id}' is already registered (remote {existing.RemoteUrl ?? "none"}, branch {existing.Branch}); pass --replace to change it.");
        }

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
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
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
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await db.KnowledgeBases.AsNoTracking().SingleOrDefaultAsync(k => k.Id == kbId, cancellationToken);
    }

    public async Task<IReadOnlyList<KnowledgeBaseRecord>> ListAsync(CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await db.KnowledgeBases.AsNoTracking().OrderBy(k => k.Id).ToListAsync(cancellationToken);
    }
}

/// <summary>What a user gives to register a KB; <see cref="ToRecord"/> checks it.</summary>
public sealed record KbRegistration(string KbId, string? Remote, string Branch = "main", string? TokenEnv = null)
{
    public KnowledgeBaseRecord ToRecord(DateTimeOffset now) => new()
    {
        Id = KbIds.Validate(KbId),
        RemoteUrl = Remote is null ? null : RemoteUrls.Normalize(Remote),
        Branch = ValidateBranch(Branch),
        TokenEnv = ValidateTokenEnv(TokenEnv),
        CreatedAt = now,
    };

    private static string ValidateBranch(string branch)
    {
        if (string.IsNullOrWhiteSpace(branch) || branch.StartsWith('-') || branch.Contains("..") ||
            branch.Any(c => char.IsWhiteSpace(c) || char.IsControl(c) || c is '~' or '^' or ':' or '?' or '*' or '[' or '\\') ||
            branch.EndsWith('/') || branch.EndsWith(".lock", StringComparison.Ordinal))
        {
            throw new ArgumentException($"'{branch}' is not a valid branch name.");
        }

        return branch;
    }

    private static string? ValidateTokenEnv(string? name)
    {
        if (name is null)
        {
            return null;
        }

        if (name.Length == 0 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_') || char.IsAsciiDigit(name[0]))
        {
            throw new ArgumentException($"'{name}' is not an environment variable name (letters, digits and '_', not starting with a digit). Pass the variable's name, never the token itself.");
        }

        return name;
    }
}

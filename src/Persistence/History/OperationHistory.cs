using KbSync.Contracts;
using KbSync.Persistence.Entities;
using Microsoft.EntityFrameworkCore;

namespace KbSync.Persistence.History;

/// <summary>Filters for <see cref="OperationHistory.ListAsync"/>. The limit is always bounded.</summary>
public sealed record HistoryQuery(string? KbId = null, string? RequestedBy = null, OperationStatus? Status = null, int Limit = HistoryQuery.DefaultLimit)
{
    public const int DefaultLimit = 20;
    public const int MaxLimit = 1000;
}

/// <summary>Reads operations back: one by id, or the newest matching a filter.</summary>
public sealed class OperationHistory(IDbContextFactory<KbSyncDbContext> contexts)
{
    public async Task<OperationRecord?> GetAsync(Guid operationId, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await db.Operations.AsNoTracking().SingleOrDefaultAsync(o => o.Id == operationId, cancellationToken);
    }

    public async Task<IReadOnlyList<OperationRecord>> ListAsync(HistoryQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(query.Limit, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(query.Limit, HistoryQuery.MaxLimit);

        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var operations = db.Operations.AsNoTracking();
        if (query.KbId is not null)
        {
            operations = operations.Where(o => o.KbId == query.KbId);
        }

        if (query.RequestedBy is not null)
        {
            operations = operations.Where(o => o.RequestedBy == query.RequestedBy);
        }

        if (query.Status is { } status)
        {
            operations = operations.Where(o => o.Status == status);
        }

        return await operations
            .OrderByDescending(o => o.RequestedAt).ThenByDescending(o => o.Id)
            .Take(query.Limit)
            .ToListAsync(cancellationToken);
    }
}

using Npgsql;

namespace KbSync.Benchmarks.Infrastructure;

/// <summary>What the analytics scenarios share to fill <c>operations</c> with millions of rows inside PostgreSQL.</summary>
internal static class OperationsSeed
{
    /// <summary>
    /// The statements of <c>Scenarios/Analytics/<paramref name="file"/></c>, comment lines left out, each
    /// <c>:name</c> of <paramref name="values"/> replaced (numbers and literals made here, never input).
    /// </summary>
    public static async Task<List<string>> StatementsAsync(string file, IReadOnlyDictionary<string, string> values, CancellationToken cancellationToken)
    {
        var path = Path.Combine(AppContext.BaseDirectory, "Scenarios", "Analytics", file);
        var text = string.Join('\n', (await File.ReadAllLinesAsync(path, cancellationToken)).Where(l => !l.TrimStart().StartsWith("--", StringComparison.Ordinal)));
        foreach (var (name, value) in values)
        {
            text = text.Replace(":" + name, value, StringComparison.Ordinal);
        }

        return text.Split(";\n", StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(s => s.TrimEnd(';')).Where(s => s.Length > 0).ToList();
    }

    /// <summary>
    /// The migrations' secondary indexes on <c>operations</c> (name, definition): dropped while the rows go in
    /// and created again with the same definitions afterwards, the same database minutes sooner.
    /// </summary>
    public static async Task<List<(string Name, string Definition)>> SecondaryIndexesAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var indexes = new List<(string Name, string Definition)>();
        await using var list = new NpgsqlCommand(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'operations' AND indexname NOT IN (SELECT conname FROM pg_constraint)", connection);
        await using var reader = await list.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            indexes.Add((reader.GetString(0), reader.GetString(1)));
        }

        return indexes;
    }
}

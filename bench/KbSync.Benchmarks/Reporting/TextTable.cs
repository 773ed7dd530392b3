using System.Text;

namespace KbSync.Benchmarks.Reporting;

/// <summary>A plain-text table: the first column left-aligned, the others right-aligned, padded to fit.</summary>
public sealed class TextTable(params string[] headers)
{
    private readonly List<string[]?> _rows = [];

    public TextTable Row(params string[] cells)
    {
        if (cells.Length != headers.Length)
        {
            throw new ArgumentException($"A row needs {headers.Length} cells, not {cells.Length}.");
        }

        _rows.Add(cells);
        return this;
    }

    /// <summary>A horizontal rule between groups of rows.</summary>
    public TextTable Rule()
    {
        _rows.Add(null);
        return this;
    }

    public override string ToString()
    {
        var widths = headers.Select((h, i) => Math.Max(h.Length, _rows.Where(r => r is not null).Select(r => r![i].Length).DefaultIfEmpty(0).Max())).ToArray();
        var text = new StringBuilder();
        void Line(string[] cells)
        {
            text.Append("  ");
            for (var i = 0; i < cells.Length; i++)
            {
                text.Append(i == 0 ? cells[i].PadRight(widths[i]) : cells[i].PadLeft(widths[i]));
                text.Append(i + 1 < cells.Length ? "   " : "");
            }

            text.Append('\n');
        }

        var rule = "  " + new string('-', widths.Sum() + 3 * (widths.Length - 1)) + "\n";
        Line(headers);
        text.Append(rule);
        foreach (var row in _rows)
        {
            if (row is null)
            {
                text.Append(rule);
            }
            else
            {
                Line(row);
            }
        }

        return text.ToString();
    }
}

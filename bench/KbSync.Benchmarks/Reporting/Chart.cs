using System.Globalization;
using SkiaSharp;

namespace KbSync.Benchmarks.Reporting;

/// <summary>
/// Draws the run's <see cref="ChartData"/> as a PNG with SkiaSharp (headless, no display needed): one
/// panel per <see cref="ChartBar.Panel"/>, bars grouped by condition, one colour per series, each bar
/// labelled with its value. Written to <c>results/&lt;run&gt;/chart.png</c>.
/// </summary>
public static class Chart
{
    private const int Width = 1200;
    private const int PanelHeight = 340;
    private const int Margin = 60;

    private static readonly SKColor[] Colours =
    [
        new(0x1f, 0x77, 0xb4), new(0xff, 0x7f, 0x0e), new(0x2c, 0xa0, 0x2c), new(0xd6, 0x27, 0x28),
        new(0x94, 0x67, 0xbd), new(0x8c, 0x56, 0x4b), new(0x7f, 0x7f, 0x7f),
    ];

    /// <summary>Writes the chart to <paramref name="path"/>; false (nothing written) when there are no bars.</summary>
    public static bool Write(ChartData data, string path, string title)
    {
        var bars = data.Bars;
        if (bars.Count == 0)
        {
            return false;
        }

        var panels = bars.GroupBy(b => b.Panel).ToList();
        var height = 50 + panels.Count * PanelHeight;
        using var surface = SKSurface.Create(new SKImageInfo(Width, height));
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        using var typeface = SKTypeface.FromFamilyName("DejaVu Sans") ?? SKTypeface.Default;
        using var titleFont = new SKFont(typeface, 20);
        using var font = new SKFont(typeface, 13);
        using var small = new SKFont(typeface, 11);
        using var ink = new SKPaint { Color = SKColors.Black, IsAntialias = true };
        using var grey = new SKPaint { Color = new SKColor(0xcc, 0xcc, 0xcc), IsAntialias = true, StrokeWidth = 1 };
        canvas.DrawText(title, Margin, 32, SKTextAlign.Left, titleFont, ink);

        var top = 50f;
        foreach (var panel in panels)
        {
            DrawPanel(canvas, panel.Key, [.. panel], new SKRect(Margin, top, Width - Margin, top + PanelHeight - 20), font, small, ink, grey);
            top += PanelHeight;
        }

        using var image = surface.Snapshot();
        using var png = image.Encode(SKEncodedImageFormat.Png, 100);
        File.WriteAllBytes(path, png.ToArray());
        return true;
    }

    private static void DrawPanel(SKCanvas canvas, string title, List<ChartBar> bars, SKRect area, SKFont font, SKFont small, SKPaint ink, SKPaint grey)
    {
        canvas.DrawText(title, area.Left, area.Top + 16, SKTextAlign.Left, font, ink);
        var series = bars.Select(b => b.Series).Distinct().ToList();
        var groups = bars.Select(b => b.Group).Distinct().ToList();
        var plot = new SKRect(area.Left + 50, area.Top + 50, area.Right, area.Bottom - 30);
        var max = bars.Where(b => double.IsFinite(b.Value)).Select(b => b.Value).DefaultIfEmpty(1).Max();
        max = max <= 0 ? 1 : NiceCeiling(max * 1.1);

        // legend
        var x = area.Left;
        for (var s = 0; s < series.Count; s++)
        {
            using var fill = new SKPaint { Color = Colours[s % Colours.Length], IsAntialias = true };
            canvas.DrawRect(x, area.Top + 26, 12, 12, fill);
            canvas.DrawText(series[s], x + 16, area.Top + 37, SKTextAlign.Left, small, ink);
            x += 30 + small.MeasureText(series[s]);
        }

        // axis and grid
        for (var i = 0; i <= 4; i++)
        {
            var value = max * i / 4;
            var y = plot.Bottom - (float)(value / max) * plot.Height;
            canvas.DrawLine(plot.Left, y, plot.Right, y, grey);
            canvas.DrawText(value.ToString("#,0.##", CultureInfo.InvariantCulture), plot.Left - 6, y + 4, SKTextAlign.Right, small, ink);
        }

        var groupWidth = plot.Width / groups.Count;
        var barWidth = Math.Min(70f, groupWidth * 0.8f / series.Count);
        for (var g = 0; g < groups.Count; g++)
        {
            var left = plot.Left + g * groupWidth + (groupWidth - barWidth * series.Count) / 2;
            for (var s = 0; s < series.Count; s++)
            {
                var bar = bars.FirstOrDefault(b => b.Group == groups[g] && b.Series == series[s]);
                if (bar is null || !double.IsFinite(bar.Value))
                {
                    continue;
                }

                var h = (float)(bar.Value / max) * plot.Height;
                using var fill = new SKPaint { Color = Colours[s % Colours.Length], IsAntialias = true };
                var bx = left + s * barWidth;
                canvas.DrawRect(bx + 2, plot.Bottom - h, barWidth - 4, h, fill);
                canvas.DrawText(bar.Value.ToString(bar.Value >= 100 ? "N0" : "N1", CultureInfo.InvariantCulture), bx + barWidth / 2, plot.Bottom - h - 4, SKTextAlign.Center, small, ink);
            }

            canvas.DrawText(groups[g], plot.Left + g * groupWidth + groupWidth / 2, plot.Bottom + 18, SKTextAlign.Center, font, ink);
        }

        canvas.DrawLine(plot.Left, plot.Bottom, plot.Right, plot.Bottom, ink);
    }

    private static double NiceCeiling(double value)
    {
        var magnitude = Math.Pow(10, Math.Floor(Math.Log10(value)));
        foreach (var step in new[] { 1, 2, 2.5, 5, 10 })
        {
            if (step * magnitude >= value)
            {
                return step * magnitude;
            }
        }

        return 10 * magnitude;
    }
}

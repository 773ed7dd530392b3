using System.Text;

namespace KbSync.Benchmarks.Reporting;

/// <summary>
/// What a run prints: to standard output and to <c>results/&lt;run&gt;/report.txt</c>. Progress
/// goes to standard error only (<see cref="Progress"/>).
/// </summary>
public sealed class Report : IDisposable
{
    private readonly StreamWriter _file;

    public Report(string path)
    {
        Path = path;
        _file = new StreamWriter(path, append: false, new UTF8Encoding(false)) { AutoFlush = true };
    }

    public string Path { get; }

    public void WriteLine(string text = "")
    {
        Console.Out.WriteLine(text);
        _file.WriteLine(text);
    }

    public void Write(string text)
    {
        Console.Out.Write(text);
        _file.Write(text);
    }

    public static void Progress(string text) => Console.Error.WriteLine($"[bench {DateTime.Now:HH:mm:ss}] {text}");

    public void Dispose() => _file.Dispose();
}

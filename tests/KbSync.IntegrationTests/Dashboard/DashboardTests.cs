using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using KbSync.Contracts;
using KbSync.IntegrationTests.Api;
using KbSync.IntegrationTests.Fixtures;
using KbSync.Persistence.Entities;
using KbSync.Persistence.Identity;
using Microsoft.EntityFrameworkCore;
using PuppeteerSharp;
using Xunit.Abstractions;

namespace KbSync.IntegrationTests.Dashboard;

/// <summary>
/// The dashboard in a real headless Chromium (Debian's <c>/usr/bin/chromium</c>, driven by
/// PuppeteerSharp, which never downloads a browser here) against a real <c>kbsync api</c>, a real
/// worker and a test database: seeded history for one KB, and real requests stuck behind a held
/// lock in another so the live queue shows them, with a pause of that KB's partition written
/// straight into <c>partition_pauses</c>. The browser signs in through the sign-in form, as the admin
/// or as a reader of one KB. Saves screenshots to artifacts/test-results/dashboard.png,
/// dashboard-busy-kb.png and dashboard-reader.png.
/// </summary>
[Collection(ServicesCollection.Name)]
public sealed class DashboardTests(RabbitMqService rabbit, PostgresService postgres, ITestOutputHelper output) : IAsyncLifetime
{
    /// <summary>Debian's chromium, which <c>./dev test</c> installs; <c>KBSYNC_CHROMIUM</c> names another binary.</summary>
    private static readonly string ChromiumPath = Environment.GetEnvironmentVariable("KBSYNC_CHROMIUM") is { Length: > 0 } path ? path : "/usr/bin/chromium";
    private const string Hostile = "<img src=x onerror=\"window.__xss = 1\">";
    private const int Groups = 6;
    private const int SpikeAt = 7, SpikeMs = 18_000;

    /// <summary>The browser's zone: not UTC, so a time written in local time would show (+05:30, no daylight saving).</summary>
    private const string BrowserZone = "Asia/Kolkata";
    private const string PauseReason = "PostgreSQL is not answering (dashboard test): retrying every 5 s";

    private KbSyncSandbox _sandbox = null!;
    private ApiProcess _api = null!;
    private LockHolder _lock = null!;
    private readonly List<OperationRecord> _seeded = [];
    private readonly List<Guid> _busy = [];
    private string _readerToken = "";

    public async Task InitializeAsync()
    {
        _sandbox = await KbSyncSandbox.CreateAsync(rabbit, postgres);
        var dataPath = _sandbox.Folder.Combine("data");
        await _sandbox.StartWorkerAsync("w1", new Dictionary<string, string> { ["KbWorker__DataPath"] = dataPath, ["KbWorker__LockTimeout"] = "00:15:00" });
        await _sandbox.RegisterKbAsync("dash-kb", remote: null);
        await _sandbox.RegisterKbAsync("busy-kb", _sandbox.CreateRemote("busy-kb").Path);
        await SeedHistoryAsync();
        await HistoryRows.WaitForRollupsAsync(_sandbox.Database); // the worker's builder sealed these minutes before the seed: its next round adds them
        _readerToken = await TestPrincipals.CreateAsync(_sandbox, "dash-reader", ("dash-kb", KbRights.Read));
        _api = await _sandbox.StartApiAsync();

        // busy-kb's lock is held by another process: its first request runs (waiting for the lock), the next two stay queued
        _lock = await LockHolder.HoldAsync(Path.Combine(dataPath, "locks", "busy-kb.lock"));
        var producer = await _sandbox.StartProducerAsync();
        _busy.Add(await producer.Client.SubmitNoteAsync("busy-kb", "dora", new NoteContent("stuck behind the lock")));
        await WaitForStatusAsync(_busy[0], OperationStatus.Running);
        for (var n = 0; n < 2; n++)
        {
            _busy.Add(await producer.Client.SubmitNoteAsync("busy-kb", "dora", new NoteContent($"queued {n}")));
        }

        foreach (var id in _busy.Skip(1))
        {
            await WaitForStatusAsync(id, OperationStatus.Queued);
        }

        // busy-kb's partition paused, as a worker's backstop records it while a service is down
        await using var db = _sandbox.Database.CreateContext();
        db.PartitionPauses.Add(new PartitionPauseRecord
        {
            Partition = Partitioning.PartitionOf("busy-kb", _sandbox.Partitions), KbId = "busy-kb", WorkerId = "w1",
            Since = DateTimeOffset.UtcNow.AddMinutes(-3), UpdatedAt = DateTimeOffset.UtcNow, Reason = PauseReason, Attempts = 4,
        });
        await db.SaveChangesAsync();
    }

    public async Task DisposeAsync()
    {
        _lock?.Dispose();
        await _sandbox.DisposeAsync();
    }

    [Fact]
    public async Task The_dashboard_shows_recent_operations_the_live_queue_and_wait_charts_that_agree_with_the_stats()
    {
        await using var browser = await LaunchAsync();
        await using var page = await browser.NewPageAsync();
        var problems = await WatchAsync(page);

        // the root sends an anonymous visitor to sign in, then to the dashboard, which shows an admin every KB at first
        await page.GoToAsync(_api.BaseAddress + "");
        Assert.Equal("/signin", new Uri(page.Url).AbsolutePath);
        await SignInAsync(page, _sandbox.AdminToken);
        Assert.EndsWith("/dashboard", new Uri(page.Url).AbsolutePath);
        await page.WaitForFunctionAsync("() => Number(document.body.dataset.refreshes) > 0 && document.body.dataset.kb === ''");
        Assert.Equal($"{KbSyncSandbox.TestPrincipal} (admin)", await page.EvaluateExpressionAsync<string>("document.getElementById('signed-in-as').textContent"));

        // recent operations: every operation (seeded and real), with its KB, requester and status as the history has them
        var rows = await page.EvaluateFunctionAsync<string[][]>("""
            () => [...document.querySelectorAll('#operations tbody tr[data-operation-id]')].map(row => [
                row.dataset.operationId,
                ...['kb', 'requester', 'status'].map(field => row.querySelector(`td[data-field="${field}"]`).textContent)])
            """);
        var history = await HistoryAsync();
        Assert.Equal(history.Count, rows.Length);
        foreach (var row in rows)
        {
            var operation = history[Guid.Parse(row[0])];
            Assert.Equal(new[] { operation.KbId, operation.RequestedBy, operation.Status.ToWireName() }, row[1..]);
        }

        Assert.Contains(rows, row => row[2] == Hostile);
        Assert.Equal(2, rows.Count(row => row[1] == "busy-kb" && row[3] == "queued"));

        // the live queue of all KBs: busy-kb's count as GET /queues has it, and why its partition waits
        var queues = await _api.Http.GetFromJsonAsync<JsonElement>("/queues");
        var busy = queues.EnumerateArray().Single(q => q.GetProperty("kbId").GetString() == "busy-kb");
        Assert.Equal((2, 1), (busy.GetProperty("queued").GetInt32(), busy.GetProperty("running").GetInt32()));
        Assert.Equal("2", await page.EvaluateExpressionAsync<string>("document.querySelector('#queues tr[data-kb=\"busy-kb\"] td[data-field=\"queued\"]').textContent"));
        Assert.Equal("1", await page.EvaluateExpressionAsync<string>("document.querySelector('#queues tr[data-kb=\"busy-kb\"] td[data-field=\"running\"]').textContent"));
        Assert.Equal("(all your KBs)", await page.EvaluateExpressionAsync<string>("document.getElementById('queues-scope').textContent"));
        var paused = await page.EvaluateExpressionAsync<string>("document.querySelector('#queues tr.paused[data-kb=\"busy-kb\"] td[data-field=\"paused\"]').textContent");
        Assert.Contains(PauseReason, paused);
        Assert.Contains("attempt 4", paused);
        Assert.Matches(@"^since \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ", paused);

        // every time on the page in one zone and one format (UTC, though the browser's zone is +05:30), the "updated" line too; no 12-hour clock
        Assert.Equal("+05:30", await page.EvaluateExpressionAsync<string>("new Date(0).toString().includes('GMT+0530') ? '+05:30' : new Date(0).toString()"));
        var updated = await page.EvaluateExpressionAsync<string>("document.getElementById('status-line').textContent");
        Assert.Matches(@"^updated \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$", updated);
        Assert.InRange(DateTimeOffset.Parse(updated["updated ".Length..^1] + "+00:00", CultureInfo.InvariantCulture), DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddSeconds(5));
        Assert.All(await page.EvaluateExpressionAsync<string[]>("[...document.querySelectorAll('#operations td[data-field=\"time\"], #queues td[data-field=\"oldest\"]')].map(td => td.textContent)"),
            time => Assert.Matches(@"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$", time));
        Assert.DoesNotMatch(@"\d (AM|PM)\b", await page.EvaluateExpressionAsync<string>("document.body.innerText"));

        // each summary figure says what it counts: "still queued or running" of those requested, beside the peak of those waiting at one instant
        var labels = await page.EvaluateFunctionAsync<Dictionary<string, string>>("""
            () => Object.fromEntries([...document.querySelectorAll('#summary .stat')].map(card =>
              [card.querySelector('.value').id, card.querySelector('.label').textContent + ' | ' + card.querySelector('.hint').textContent]))
            """);
        Assert.Equal(10, labels.Count);
        Assert.Equal("still queued or running | of those requested in the range, right now", labels["stat-open"]);
        Assert.StartsWith("duplicate | of those requested in the range", labels["stat-duplicate"]);
        Assert.StartsWith("peak queue depth | most operations waiting for a worker at one instant", labels["stat-peak-queue"]);
        Assert.StartsWith("requested | operations requested in the range", labels["stat-operations"]);

        // one KB chosen: the live queue shows that KB only (busy-kb, paused); then dash-kb, which has nothing queued
        await page.SelectAsync("#kb-select", "busy-kb");
        await page.WaitForFunctionAsync("() => document.body.dataset.kb === 'busy-kb'");
        Assert.Equal(["busy-kb"], await page.EvaluateExpressionAsync<string[]>("[...document.querySelectorAll('#queues tr[data-kb]')].map(row => row.dataset.kb)"));
        Assert.Equal("(busy-kb)", await page.EvaluateExpressionAsync<string>("document.getElementById('queues-scope').textContent"));
        Assert.Contains(PauseReason, await page.EvaluateExpressionAsync<string>("document.querySelector('#queues tr.paused td[data-field=\"paused\"]').textContent"));
        Assert.Equal(["No finished operation was requested in this range.", "No operation finished in this range."],
            await page.EvaluateExpressionAsync<string[]>("[...document.querySelectorAll('svg.chart text.empty')].map(t => t.textContent)"));
        await SaveScreenshotAsync(page, "dashboard-busy-kb.png");

        // one KB: its summary and charts equal GET /kbs/{kb}/stats over the same range
        await page.SelectAsync("#kb-select", "dash-kb");
        await page.WaitForFunctionAsync("() => document.body.dataset.kb === 'dash-kb' && document.body.dataset.range === '24h'");
        Assert.Equal(0, await page.EvaluateExpressionAsync<int>("document.querySelectorAll('#queues tr[data-kb]').length"));
        Assert.Contains("Nothing of dash-kb", await page.EvaluateExpressionAsync<string>("document.querySelector('#queues tbody').textContent"));
        var shown = await ReadChartsAsync(page);
        var stats = await StatsAsync("dash-kb", shown);
        Assert.Equal(48, stats.GetProperty("waitsOverTime").GetArrayLength());
        Assert.Equal(Value(stats, "waits", "queueWait", "p95Ms"), shown.Stat("stat-queue-p95"), 1e-9);
        Assert.Equal(Value(stats, "waits", "lockWait", "p95Ms"), shown.Stat("stat-lock-p95"), 1e-9);
        Assert.Equal(Value(stats, "waits", "queueWait", "p50Ms"), shown.Stat("stat-queue-p50"), 1e-9);
        Assert.Equal(_seeded.Count, shown.Stat("stat-operations"), 1e-9);
        Assert.Equal(shown.Stat("stat-operations"), shown.Stat("stat-succeeded") + shown.Stat("stat-duplicate") + shown.Stat("stat-failed") + shown.Stat("stat-open"), 1e-9);
        Assert.Equal(0, await page.EvaluateExpressionAsync<int>("document.querySelectorAll('svg.chart text.empty').length"));
        AssertChartsMatch(stats, shown, minimumPoints: Groups - 1);

        // the waits on a logarithmic axis (decades from 1 ms to 100 s): beside the 18 s spike, which sits near the top,
        // every wait of 50 ms or more is at least a fifth of the plot above its bottom (on a linear axis to 20 s, 100 ms
        // would be half a percent of it)
        Assert.Equal("log", await page.EvaluateExpressionAsync<string>("document.getElementById('chart-waits').dataset.scale"));
        Assert.Equal(["1 ms", "10 ms", "100 ms", "1 s", "10 s", "100 s"],
            await page.EvaluateExpressionAsync<string[]>("[...document.querySelectorAll('#chart-waits text.y-tick')].map(t => t.textContent)"));
        var heights = await page.EvaluateFunctionAsync<Dictionary<string, double[][]>>("""
            () => {
              const lines = [...document.querySelectorAll('#chart-waits g.axes line')].map(l => Number(l.getAttribute('y1')));
              const bottom = Math.max(...lines), plot = bottom - Math.min(...lines);
              return Object.fromEntries([...document.querySelectorAll('#chart-waits g[data-series]')].map(g => [g.dataset.series,
                [...g.querySelectorAll('circle')].map(c => [Number(c.dataset.value), (bottom - Number(c.getAttribute('cy'))) / plot])]));
            }
            """);
        Assert.Contains(heights["lock-p95"], point => point[0] > 10_000 && point[1] > 0.75);
        Assert.All(heights.Values.SelectMany(points => points).Where(point => point[0] >= 50), point => Assert.True(point[1] >= 0.2, $"a wait of {point[0]} ms drawn at {point[1]:P0} of the plot"));
        var ticks = await page.EvaluateExpressionAsync<string[]>("[...document.querySelectorAll('#chart-waits text.x-tick')].map(t => t.dataset.time + ' ' + t.textContent)");
        Assert.InRange(ticks.Length, 7, 9);
        Assert.All(ticks, tick => Assert.Matches(@"^\d{4}-(\d\d-\d\d)T(?:(\d\d):00:00\.000Z \2:00|00:00:00\.000Z \1)$", tick)); // the date at midnight
        Assert.All(ticks, tick => Assert.Equal(0, int.Parse(tick[11..13], CultureInfo.InvariantCulture) % 3));
        Assert.Equal(["succeeded", "duplicate", "failed", "timed out"], await page.EvaluateExpressionAsync<string[]>("[...document.querySelectorAll('#legend-throughput span')].map(s => s.textContent)"));
        Assert.InRange(await page.EvaluateExpressionAsync<int>("document.querySelectorAll('#chart-throughput text.x-tick').length"), 7, 9);
        Assert.All(await page.EvaluateExpressionAsync<string[]>("[...document.querySelectorAll('#chart-throughput text.y-tick')].map(t => t.textContent)"),
            label => Assert.Matches("^[0-9]+$", label));

        // stacked: in each bucket the outcomes' bars sit on one another, in the legend's order, from the zero line up
        var stacks = await page.EvaluateFunctionAsync<string[]>("""
            () => {
              const zero = Math.max(...[...document.querySelectorAll('#chart-throughput g.axes line')].map(l => Number(l.getAttribute('y1'))));
              const columns = new Map();
              for (const group of document.querySelectorAll('#chart-throughput g[data-series]'))
                for (const bar of group.querySelectorAll('rect')) {
                  const x = bar.getAttribute('x');
                  if (!columns.has(x)) columns.set(x, []);
                  columns.get(x).push([group.dataset.series, Number(bar.getAttribute('y')), Number(bar.getAttribute('height'))]);
                }
              return [...columns.values()].map(bars => {
                let base = zero;
                for (const [, y, height] of bars) { if (Math.abs(y + height - base) > 0.01) return 'gap under ' + bars.map(b => b[0]).join('+'); base = y; }
                return bars.map(b => b[0]).join('+');
              });
            }
            """);
        Assert.Equal(Groups, stacks.Length);
        Assert.All(stacks, stack => Assert.Matches("^(succeeded)?(\\+?duplicate)?(\\+?failed)?(\\+?timed-out)?$", stack));
        Assert.Contains("succeeded+duplicate", stacks);
        Assert.Contains("succeeded+failed", stacks);

        await SaveScreenshotAsync(page, "dashboard.png");

        // another range: the last hour, in 60 buckets of 1 minute
        await page.SelectAsync("#range-select", "1h");
        await page.WaitForFunctionAsync("() => document.body.dataset.kb === 'dash-kb' && document.body.dataset.range === '1h'");
        var lastHour = await ReadChartsAsync(page);
        var hourStats = await StatsAsync("dash-kb", lastHour);
        Assert.Equal(TimeSpan.FromHours(1), lastHour.Until - lastHour.Since);
        Assert.Equal(60, hourStats.GetProperty("waitsOverTime").GetArrayLength());
        AssertChartsMatch(hourStats, lastHour, minimumPoints: 1);
        var hourTicks = await page.EvaluateExpressionAsync<string[]>("[...document.querySelectorAll('#chart-waits text.x-tick')].map(t => t.dataset.time + ' ' + t.textContent)");
        Assert.InRange(hourTicks.Length, 5, 7); // every 10 minutes
        Assert.All(hourTicks, tick => Assert.Matches(@"^\d{4}-(\d\d-\d\d)T(?:(\d\d:\d0):00\.000Z \2|00:00:00\.000Z \1)$", tick));

        // nothing user-provided became markup, and the page had no errors (a CSP violation would be one)
        Assert.Equal(0, await page.EvaluateExpressionAsync<int>("document.querySelectorAll('main img, main script').length"));
        Assert.True(await page.EvaluateExpressionAsync<bool>("window.__xss === undefined"));
        Assert.Empty(problems);
    }

    [Fact]
    public async Task A_reader_of_one_kb_signs_in_sees_that_kb_and_nothing_of_another_cannot_write_with_the_session_and_signs_out()
    {
        await using var browser = await LaunchAsync();
        await using var page = await browser.NewPageAsync();
        var problems = await WatchAsync(page);

        // anonymous: sent to sign in, and back to the page asked for; a wrong token is refused there
        await page.GoToAsync(_api.BaseAddress + "dashboard?range=24h");
        Assert.Equal("/signin", new Uri(page.Url).AbsolutePath);
        await SignInAsync(page, TestPrincipals.UnknownToken());
        Assert.Equal("/signin", new Uri(page.Url).AbsolutePath);
        Assert.Contains("unknown or revoked", await page.EvaluateExpressionAsync<string>("document.getElementById('sign-in-error').textContent"));
        await SignInAsync(page, _readerToken);
        Assert.Equal("/dashboard?range=24h", new Uri(page.Url).PathAndQuery);
        problems.Clear(); // the refused sign-in's 401 is not the dashboard's
        await page.WaitForFunctionAsync("() => Number(document.body.dataset.refreshes) > 0");

        // who is signed in, and only dash-kb: in the KB list, the operations, the live queue and the summary of "all your KBs"
        Assert.Equal("dash-reader (member)", await page.EvaluateExpressionAsync<string>("document.getElementById('signed-in-as').textContent"));
        Assert.Equal(["", "dash-kb"], await page.EvaluateExpressionAsync<string[]>("[...document.querySelectorAll('#kb-select option')].map(o => o.value)"));
        var kbs = await page.EvaluateExpressionAsync<string[]>("[...document.querySelectorAll('#operations td[data-field=\"kb\"]')].map(td => td.textContent)");
        Assert.Equal(_seeded.Count, kbs.Length);
        Assert.All(kbs, kb => Assert.Equal("dash-kb", kb));
        Assert.Equal(0, await page.EvaluateExpressionAsync<int>("document.querySelectorAll('#queues tr[data-kb]').length"));
        Assert.Equal(_seeded.Count.ToString(CultureInfo.InvariantCulture), await page.EvaluateExpressionAsync<string>("document.getElementById('stat-operations').dataset.value"));
        var everything = await page.EvaluateExpressionAsync<string>("document.documentElement.outerHTML");
        Assert.DoesNotContain("busy-kb", everything);
        Assert.DoesNotContain("dora", everything);
        await SaveScreenshotAsync(page, "dashboard-reader.png");

        // the session is an HttpOnly, SameSite=Strict cookie the page's script cannot read, and it never authenticates a write
        var session = Assert.Single(await page.GetCookiesAsync(), c => c.Name == "kbsync.session");
        Assert.True(session.HttpOnly);
        Assert.Equal(SameSite.Strict, session.SameSite);
        Assert.DoesNotContain("kbsync.session", await page.EvaluateExpressionAsync<string>("document.cookie"));
        Assert.Empty(problems);
        Assert.Equal(401, await page.EvaluateFunctionAsync<int>("""
            () => fetch('/kbs/dash-kb/notes', { method: 'POST', headers: { 'content-type': 'application/json' },
                body: JSON.stringify({ requestedBy: 'page', text: 'written with the session?' }) }).then(r => r.status)
            """));

        // signing out ends the session: back to the sign-in form, and the dashboard sends there again
        await Task.WhenAll(page.WaitForNavigationAsync(), page.ClickAsync("#sign-out"));
        Assert.Equal("/signin", new Uri(page.Url).AbsolutePath);
        Assert.DoesNotContain(await page.GetCookiesAsync(), c => c.Name == "kbsync.session");
        await page.GoToAsync(_api.BaseAddress + "dashboard");
        Assert.Equal("/signin", new Uri(page.Url).AbsolutePath);
    }

    private static async Task<IBrowser> LaunchAsync()
    {
        Assert.True(File.Exists(ChromiumPath),
            $"Chromium is not installed at {ChromiumPath}; the dashboard test drives it headless. Run ./dev test (it installs chromium when missing), " +
            "or apt-get install -y --no-install-recommends chromium.");
        return await Puppeteer.LaunchAsync(new LaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            Args = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        });
    }

    /// <summary>Sets the page up (timeout, size) and collects its script errors and console errors (a CSP violation is one).</summary>
    private static async Task<List<string>> WatchAsync(IPage page)
    {
        page.DefaultTimeout = 60_000;
        var problems = new List<string>();
        page.PageError += (_, e) => problems.Add($"page error: {e.Message}");
        page.Console += (_, e) =>
        {
            if (e.Message.Type == ConsoleType.Error)
            {
                problems.Add($"console error: {e.Message.Text}");
            }
        };
        await page.SetViewportAsync(new ViewPortOptions { Width = 1400, Height = 1000 });
        await page.EmulateTimezoneAsync(BrowserZone);
        return problems;
    }

    /// <summary>On the sign-in form: pastes the token and submits, as a user would.</summary>
    private static async Task SignInAsync(IPage page, string token)
    {
        await page.EvaluateExpressionAsync("document.getElementById('token').value = ''");
        await page.TypeAsync("#token", token);
        await Task.WhenAll(page.WaitForNavigationAsync(), page.ClickAsync("#sign-in"));
    }

    private async Task SaveScreenshotAsync(IPage page, string name)
    {
        var path = ScreenshotPath(name);
        await page.ScreenshotAsync(path, new ScreenshotOptions { FullPage = true });
        output.WriteLine($"Dashboard screenshot: {path}");
        Console.WriteLine($"Dashboard screenshot: {path}"); // the console logger shows this line even for a passing test
    }

    /// <summary>Every series' points (circles, or bars for throughput) are the stats' non-empty buckets, with their values.</summary>
    private static void AssertChartsMatch(JsonElement stats, Charts shown, int minimumPoints)
    {
        var overTime = stats.GetProperty("waitsOverTime").EnumerateArray().ToList();
        Assert.Equal(overTime.Count, shown.Buckets);
        foreach (var (series, field) in new[] { ("queue-p50", "queueWaitP50Ms"), ("queue-p95", "queueWaitP95Ms"), ("lock-p50", "lockWaitP50Ms"), ("lock-p95", "lockWaitP95Ms") })
        {
            var expected = overTime.Where(b => b.GetProperty(field).ValueKind == JsonValueKind.Number).Select(b => b.GetProperty(field).GetDouble()).ToList();
            Assert.True(expected.Count >= minimumPoints, $"{series}: only {expected.Count} non-empty buckets");
            Assert.Equal(expected, shown.Points[series], new Tolerance());
            Assert.Equal(1, shown.Paths[series]);
        }

        // throughput: one stacked series per outcome, each bar the bucket's count of that outcome
        foreach (var (series, field) in new[] { ("succeeded", "succeeded"), ("duplicate", "duplicate"), ("failed", "failed"), ("timed-out", "timedOut") })
        {
            var counts = stats.GetProperty("throughput").EnumerateArray().Select(b => (double)b.GetProperty(field).GetInt64()).Where(f => f > 0).ToList();
            Assert.Equal(counts, shown.Points[series]);
        }
    }

    private static double Value(JsonElement element, params string[] path) =>
        path.Aggregate(element, (e, name) => e.GetProperty(name)).GetDouble();

    private async Task<JsonElement> StatsAsync(string kb, Charts shown) =>
        await _api.Http.GetFromJsonAsync<JsonElement>(
            $"/kbs/{kb}/stats?since={Uri.EscapeDataString(shown.Since.ToString("O"))}&until={Uri.EscapeDataString(shown.Until.ToString("O"))}");

    /// <summary>Reads the summary and both charts in one go (the page redraws every few seconds).</summary>
    private static async Task<Charts> ReadChartsAsync(IPage page)
    {
        var json = await page.EvaluateFunctionAsync<string>("""
            () => {
              const svg = document.getElementById('chart-waits');
              const series = {};
              const paths = {};
              for (const group of document.querySelectorAll('svg.chart g[data-series]')) {
                series[group.dataset.series] = [...group.querySelectorAll('circle, rect')].map(p => Number(p.dataset.value));
                paths[group.dataset.series] = group.querySelectorAll('path').length;
              }
              const stats = {};
              for (const stat of document.querySelectorAll('#summary [data-value]')) stats[stat.id] = stat.dataset.value;
              return JSON.stringify({ since: svg.dataset.since, until: svg.dataset.until, buckets: Number(svg.dataset.buckets), series, paths, stats });
            }
            """);
        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        return new Charts(
            DateTimeOffset.Parse(root.GetProperty("since").GetString()!, CultureInfo.InvariantCulture),
            DateTimeOffset.Parse(root.GetProperty("until").GetString()!, CultureInfo.InvariantCulture),
            root.GetProperty("buckets").GetInt32(),
            root.GetProperty("series").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.EnumerateArray().Select(v => v.GetDouble()).ToList()),
            root.GetProperty("paths").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt32()),
            root.GetProperty("stats").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!));
    }

    private sealed record Charts(
        DateTimeOffset Since, DateTimeOffset Until, int Buckets,
        Dictionary<string, List<double>> Points, Dictionary<string, int> Paths, Dictionary<string, string> Stats)
    {
        /// <summary>A summary figure as the page holds it (its data-value: the API's number, unformatted).</summary>
        public double Stat(string id) => double.Parse(Stats[id], CultureInfo.InvariantCulture);
    }

    private sealed class Tolerance : IEqualityComparer<double>
    {
        public bool Equals(double x, double y) => Math.Abs(x - y) <= 1e-9 * Math.Max(1, Math.Abs(x));

        public int GetHashCode(double obj) => 0;
    }

    /// <summary>
    /// Six groups of three operations of dash-kb, one group every 30 minutes over the last 3 hours
    /// (so the charts draw lines through neighbouring buckets): known waits (0.1 to 3 s, and one lock
    /// wait of 18 s, a spike that would flatten a linear axis), several statuses, and a requester and
    /// an error message that are markup.
    /// </summary>
    private async Task SeedHistoryAsync()
    {
        var now = DateTimeOffset.UtcNow;
        for (var group = 0; group < Groups; group++)
        {
            for (var j = 0; j < 3; j++)
            {
                var k = group * 3 + j;
                var requester = j switch { 0 => "alice", 1 => "bob", _ => group % 2 == 0 ? Hostile : "carol" };
                var (status, error) = (group, j) switch
                {
                    (3, 1) => (OperationStatus.Failed, "<script>window.__xss = 2</script> push refused"),
                    (4, 2) => (OperationStatus.Duplicate, null),
                    _ => (OperationStatus.Succeeded, (string?)null),
                };
                _seeded.Add(HistoryRows.Finished("dash-kb", requester, status,
                    now.AddMinutes(-20 - 30 * group - j).AddMilliseconds(-k),
                    queueWaitMs: 100 + k * 397 % 3000, lockWaitMs: k == SpikeAt ? SpikeMs : k % 3 == 0 ? 0 : 50 + k * 131 % 2000, error));
            }
        }

        await HistoryRows.SaveAsync(_sandbox.Database, _seeded);
    }

    private async Task<Dictionary<Guid, OperationRecord>> HistoryAsync()
    {
        await using var db = _sandbox.Database.CreateContext();
        return await db.Operations.AsNoTracking().ToDictionaryAsync(o => o.Id);
    }

    private async Task WaitForStatusAsync(Guid id, OperationStatus status)
    {
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while ((await _sandbox.FindOperationAsync(id))?.Status != status)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Operation {id} never became {status}. Workers said:\n{_sandbox.WorkerOutput()}");
            }

            await Task.Delay(100);
        }
    }

    /// <summary>artifacts/test-results/<paramref name="name"/> under the repository root (the folder holding KbSync.sln).</summary>
    private static string ScreenshotPath(string name)
    {
        var folder = new DirectoryInfo(AppContext.BaseDirectory);
        while (folder is not null && !File.Exists(Path.Combine(folder.FullName, "KbSync.sln")))
        {
            folder = folder.Parent;
        }

        var results = Path.Combine(folder?.FullName ?? throw new InvalidOperationException("No KbSync.sln above " + AppContext.BaseDirectory), "artifacts", "test-results");
        Directory.CreateDirectory(results);
        return Path.Combine(results, name);
    }
}

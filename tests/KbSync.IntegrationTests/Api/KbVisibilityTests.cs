using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using KbSync.Contracts;
using KbSync.IntegrationTests.Fixtures;
using KbSync.Persistence.Entities;
using KbSync.Persistence.Identity;

namespace KbSync.IntegrationTests.Api;

/// <summary>
/// Lists and statistics show a caller only the KBs it may read, on a real <c>kbsync api</c> and
/// PostgreSQL: KB A, and KB B in the same partition, with a remote, a token variable, requesters,
/// queued work and a pause of that partition caused by KB B, none of which a reader of A may see.
/// </summary>
[Collection(ServicesCollection.Name)]
public sealed class KbVisibilityTests(RabbitMqService rabbit, PostgresService postgres) : IAsyncLifetime
{
    private const string KbA = "vis-a";
    private const string TokenEnvA = "KBSYNC_TOKEN_VIS_A";
    private const string TokenEnvB = "KBSYNC_TOKEN_VIS_B";
    private const string RequesterB = "bob-of-b";
    private const string PauseReasonB = "push to the remote of b refused: 403 from b-secret.example";

    private KbSyncSandbox _sandbox = null!;
    private ApiProcess _api = null!;
    private string _kbB = "";
    private string _remoteB = "";
    private Guid _queuedOfA;

    public async Task InitializeAsync()
    {
        _sandbox = await KbSyncSandbox.CreateAsync(rabbit, postgres);
        var partition = Partitioning.PartitionOf(KbA, _sandbox.Partitions);
        _kbB = Enumerable.Range(0, 1000).Select(n => $"vis-b{n}").First(kb => Partitioning.PartitionOf(kb, _sandbox.Partitions) == partition);
        _remoteB = _sandbox.CreateRemote("b-secret-remote").Path;
        await _sandbox.RegisterKbAsync(KbA, _sandbox.CreateRemote(KbA).Path, tokenEnv: TokenEnvA);
        await _sandbox.RegisterKbAsync(_kbB, _remoteB, tokenEnv: TokenEnvB);

        var now = DateTimeOffset.UtcNow;
        var queuedOfA = HistoryRows.Open(KbA, "alice-a", OperationStatus.Queued, now.AddMinutes(-1));
        _queuedOfA = queuedOfA.Id;
        await HistoryRows.SaveAsync(_sandbox.Database,
        [
            HistoryRows.Finished(KbA, "alice-a", OperationStatus.Succeeded, now.AddMinutes(-30)),
            HistoryRows.Finished(KbA, "alice-a", OperationStatus.Succeeded, now.AddMinutes(-20)),
            HistoryRows.Finished(KbA, "alice-a", OperationStatus.Failed, now.AddMinutes(-10), error: "a's own failure"),
            queuedOfA,
            .. Enumerable.Range(1, 5).Select(n => HistoryRows.Finished(_kbB, RequesterB, OperationStatus.Succeeded, now.AddMinutes(-40 + n))),
            HistoryRows.Finished(_kbB, RequesterB, OperationStatus.Failed, now.AddMinutes(-3), error: "b's failure at " + _remoteB),
            HistoryRows.Open(_kbB, RequesterB, OperationStatus.Running, now.AddMinutes(-2)),
            HistoryRows.Open(_kbB, RequesterB, OperationStatus.Queued, now.AddMinutes(-1)),
        ]);
        await using (var db = _sandbox.Database.CreateContext())
        {
            db.PartitionPauses.Add(new PartitionPauseRecord { Partition = partition, WorkerId = "w-seed", KbId = _kbB, Since = now.AddMinutes(-2), UpdatedAt = now, Reason = PauseReasonB, Attempts = 3 });
            await db.SaveChangesAsync();
        }

        _api = await _sandbox.StartApiAsync();
        await HistoryRows.WaitForRollupsAsync(_sandbox.Database); // every answer from the rollups, the same whenever it is asked
    }

    public async Task DisposeAsync() => await _sandbox.DisposeAsync();

    [Fact]
    public async Task A_reader_of_kb_a_sees_nothing_of_kb_b_in_kbs_queues_operations_or_statistics()
    {
        using var reader = _api.Client(await TestPrincipals.CreateAsync(_sandbox, "reader-a", (KbA, KbRights.Read)));
        var bodies = new Dictionary<string, string>();
        async Task<JsonElement> GetAsync(string path)
        {
            var response = await reader.GetAsync(path);
            bodies[path] = await response.Content.ReadAsStringAsync();
            Assert.True(response.IsSuccessStatusCode, $"{path}: {(int)response.StatusCode} {bodies[path]}");
            return JsonDocument.Parse(bodies[path]).RootElement;
        }

        var kbs = await GetAsync("/kbs");
        var queues = await GetAsync("/queues");
        var operations = await GetAsync("/operations?limit=100");
        var byB = await GetAsync($"/operations?user={RequesterB}");
        var queued = await GetAsync($"/operations/{_queuedOfA}");
        var stats = await GetAsync("/stats");
        var adminStatsOfA = await _api.Http.GetFromJsonAsync<JsonElement>($"/kbs/{KbA}/stats?since={Since(stats)}&until={Until(stats)}");
        var adminStats = await _api.Http.GetFromJsonAsync<JsonElement>($"/stats?since={Since(stats)}&until={Until(stats)}");

        var kb = Assert.Single(kbs.EnumerateArray());
        Assert.Equal(KbA, kb.GetProperty("id").GetString());
        Assert.Equal(JsonValueKind.Null, kb.GetProperty("tokenEnv").ValueKind); // a reader does not learn which secret the KB uses
        Assert.Equal(["read"], kb.GetProperty("rights").EnumerateArray().Select(r => r.GetString()));
        var queue = Assert.Single(queues.EnumerateArray());
        Assert.Equal(KbA, queue.GetProperty("kbId").GetString());
        AssertPauseHidden(queue.GetProperty("paused"));
        AssertPauseHidden(queued.GetProperty("paused"));
        var ids = operations.GetProperty("operations").EnumerateArray().Select(o => o.GetProperty("kbId").GetString()).ToList();
        Assert.Equal(4, ids.Count);
        Assert.All(ids, id => Assert.Equal(KbA, id));
        Assert.Empty(byB.GetProperty("operations").EnumerateArray());
        Assert.Equal(4, stats.GetProperty("statuses").GetProperty("total").GetInt64());
        Assert.Equal(adminStatsOfA.GetProperty("statuses").ToString(), stats.GetProperty("statuses").ToString());
        Assert.Equal(adminStatsOfA.GetProperty("waits").ToString(), stats.GetProperty("waits").ToString());
        Assert.Equal(12, adminStats.GetProperty("statuses").GetProperty("total").GetInt64()); // the filter is what hides B's 8
        Assert.Equal(["alice-a"], stats.GetProperty("requesters").EnumerateArray().Select(r => r.GetProperty("requestedBy").GetString()));
        foreach (var (path, body) in bodies)
        {
            foreach (var secret in new[] { _kbB, _remoteB, "b-secret", TokenEnvB, TokenEnvA, RequesterB, PauseReasonB })
            {
                Assert.False(body.Contains(secret, StringComparison.Ordinal), $"{path} shows '{secret}' to a reader of {KbA}: {body}");
            }
        }

        foreach (var path in new[] { $"/operations?kb={_kbB}", $"/kbs/{_kbB}/stats" })
        {
            var refused = await reader.GetAsync(path);
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
            Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
            Assert.Contains($"'read' right on KB '{_kbB}'", (await refused.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("detail").GetString());
        }
    }

    [Fact]
    public async Task A_manager_sees_its_kbs_token_variable_an_admin_sees_every_kb_and_a_member_without_grants_sees_nothing()
    {
        using var manager = _api.Client(await TestPrincipals.CreateAsync(_sandbox, "manager-a", (KbA, KbRights.Manage)));
        using var nobody = _api.Client(await TestPrincipals.CreateAsync(_sandbox, "nobody"));

        var managed = Assert.Single((await manager.GetFromJsonAsync<JsonElement>("/kbs")).EnumerateArray());
        var all = (await _api.Http.GetFromJsonAsync<JsonElement>("/kbs")).EnumerateArray().ToDictionary(k => k.GetProperty("id").GetString()!);
        var adminQueues = await _api.Http.GetFromJsonAsync<JsonElement>("/queues");

        Assert.Equal(TokenEnvA, managed.GetProperty("tokenEnv").GetString());
        Assert.Equal(["read", "manage"], managed.GetProperty("rights").EnumerateArray().Select(r => r.GetString()));
        Assert.Equal([KbA, _kbB], all.Keys.Order());
        Assert.Equal(TokenEnvB, all[_kbB].GetProperty("tokenEnv").GetString());
        Assert.Equal(["read", "write", "agent", "manage"], all[KbA].GetProperty("rights").EnumerateArray().Select(r => r.GetString()));
        var pausedForAdmin = adminQueues.EnumerateArray().First(q => q.GetProperty("kbId").GetString() == KbA).GetProperty("paused");
        Assert.Equal(_kbB, pausedForAdmin.GetProperty("kbId").GetString());
        Assert.Equal(PauseReasonB, pausedForAdmin.GetProperty("reason").GetString());

        Assert.Empty((await nobody.GetFromJsonAsync<JsonElement>("/kbs")).EnumerateArray());
        Assert.Empty((await nobody.GetFromJsonAsync<JsonElement>("/queues")).EnumerateArray());
        Assert.Empty((await nobody.GetFromJsonAsync<JsonElement>("/operations")).GetProperty("operations").EnumerateArray());
        var nothing = await nobody.GetFromJsonAsync<JsonElement>("/stats");
        Assert.Equal(0, nothing.GetProperty("statuses").GetProperty("total").GetInt64());
        Assert.Equal(0, nothing.GetProperty("queue").GetProperty("peakDepth").GetInt64());
        Assert.Empty(nothing.GetProperty("requesters").EnumerateArray());
    }

    /// <summary>The pause is KB B's: a reader of A learns that its partition waits, not for which KB or why.</summary>
    private static void AssertPauseHidden(JsonElement paused)
    {
        Assert.Equal(JsonValueKind.Object, paused.ValueKind);
        Assert.Equal(JsonValueKind.Null, paused.GetProperty("kbId").ValueKind);
        Assert.Equal(KbSync.Producer.Api.PauseView.OtherKbReason, paused.GetProperty("reason").GetString());
    }

    private static string Since(JsonElement stats) => Uri.EscapeDataString(stats.GetProperty("since").GetString()!);

    private static string Until(JsonElement stats) => Uri.EscapeDataString(stats.GetProperty("until").GetString()!);
}

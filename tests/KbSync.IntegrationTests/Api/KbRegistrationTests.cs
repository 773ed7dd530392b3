using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using KbSync.IntegrationTests.Fixtures;
using KbSync.Persistence.Identity;
using Microsoft.EntityFrameworkCore;

namespace KbSync.IntegrationTests.Api;

/// <summary>
/// <c>POST /kbs</c> on a real <c>kbsync api</c>: a registration names where the workers push and which
/// secret they send, so only an admin adds a KB, only an admin or the KB's manager re-points it, and
/// never without <c>replace</c>.
/// </summary>
[Collection(ServicesCollection.Name)]
public sealed class KbRegistrationTests(RabbitMqService rabbit, PostgresService postgres) : IAsyncLifetime
{
    private const string KbA = "reg-a";
    private const string KbB = "reg-b";

    private KbSyncSandbox _sandbox = null!;
    private ApiProcess _api = null!;
    private string _remoteA = "";
    private string _remoteB = "";

    public async Task InitializeAsync()
    {
        _sandbox = await KbSyncSandbox.CreateAsync(rabbit, postgres);
        _remoteA = _sandbox.CreateRemote(KbA).Path;
        _remoteB = _sandbox.CreateRemote(KbB).Path;
        await _sandbox.RegisterKbAsync(KbA, _remoteA);
        await _sandbox.RegisterKbAsync(KbB, _remoteB);
        _api = await _sandbox.StartApiAsync();
    }

    public async Task DisposeAsync() => await _sandbox.DisposeAsync();

    [Fact]
    public async Task An_admin_registers_a_new_kb_but_an_existing_one_without_replace_is_409_and_unchanged()
    {
        var elsewhere = _sandbox.CreateRemote("elsewhere").Path;

        var created = await _api.Http.PostAsJsonAsync("/kbs", new { id = "reg-new", remote = _sandbox.CreateRemote("reg-new").Path, tokenEnv = "KBSYNC_TOKEN_REG_NEW" });
        var conflict = await _api.Http.PostAsJsonAsync("/kbs", new { id = KbA, remote = elsewhere, branch = "other" });

        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal("/kbs/reg-new", created.Headers.Location!.OriginalString);
        Assert.Equal("KBSYNC_TOKEN_REG_NEW", (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("tokenEnv").GetString());
        Assert.Equal(HttpStatusCode.Conflict, conflict.StatusCode);
        Assert.Equal("application/problem+json", conflict.Content.Headers.ContentType?.MediaType);
        Assert.Contains("\"replace\": true", (await conflict.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("detail").GetString());
        Assert.Equal((_remoteA, "main"), await RegistrationOfAsync(KbA));
    }

    [Fact]
    public async Task A_manager_re_points_its_kb_with_replace_but_may_neither_register_a_new_kb_nor_touch_another_and_a_writer_may_not_either()
    {
        using var manager = _api.Client(await TestPrincipals.CreateAsync(_sandbox, "manager-a", (KbA, KbRights.Manage), ("reg-unregistered", KbRights.Manage)));
        using var writer = _api.Client(await TestPrincipals.CreateAsync(_sandbox, "writer-a", (KbA, KbRights.Write)));
        var moved = _sandbox.CreateRemote("moved").Path;

        var withoutReplace = await manager.PostAsJsonAsync("/kbs", new { id = KbA, remote = moved });
        var repointed = await manager.PostAsJsonAsync("/kbs", new { id = KbA, remote = moved, branch = "kb", replace = true });
        var another = await manager.PostAsJsonAsync("/kbs", new { id = KbB, remote = moved, replace = true });
        var brandNew = await manager.PostAsJsonAsync("/kbs", new { id = "reg-unregistered", remote = moved, replace = true });
        var byWriter = await writer.PostAsJsonAsync("/kbs", new { id = KbA, remote = _remoteA, replace = true });

        Assert.Equal(HttpStatusCode.Conflict, withoutReplace.StatusCode);
        Assert.Equal(HttpStatusCode.OK, repointed.StatusCode);
        Assert.Equal(moved, (await repointed.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("remoteUrl").GetString());
        Assert.Equal((moved, "kb"), await RegistrationOfAsync(KbA));
        await AssertForbiddenAsync(another, "'manage' right");
        Assert.Equal((_remoteB, "main"), await RegistrationOfAsync(KbB));
        await AssertForbiddenAsync(brandNew, "Only an admin registers a new KB");
        Assert.Null(await RegistrationOfAsync("reg-unregistered"));
        await AssertForbiddenAsync(byWriter, "'manage' right");
        Assert.Equal((moved, "kb"), await RegistrationOfAsync(KbA));
    }

    private static async Task AssertForbiddenAsync(HttpResponseMessage response, string reason)
    {
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains(reason, (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("detail").GetString());
    }

    private async Task<(string? Remote, string Branch)?> RegistrationOfAsync(string kb)
    {
        await using var db = _sandbox.Database.CreateContext();
        var row = await db.KnowledgeBases.AsNoTracking().SingleOrDefaultAsync(k => k.Id == kb);
        return row is null ? null : (row.RemoteUrl, row.Branch);
    }
}

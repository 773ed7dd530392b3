using System.Security.Claims;
using KbSync.Persistence.History;
using KbSync.Persistence.Identity;
using KbSync.Producer.Api;
using KbSync.Producer.Api.Security;

namespace KbSync.UnitTests.Api;

public sealed class PrincipalClaimsTests
{
    [Fact]
    public void A_principal_becomes_claims_with_its_name_and_role_and_comes_back_whole()
    {
        var principal = new Principal(Guid.NewGuid(), "chat-bot", "bot@example.org", Roles.Member, "bot-amqp", Relay: true);
        var tokenId = Guid.NewGuid();

        var user = PrincipalClaims.Create(principal, ApiSchemes.Session, tokenId);

        Assert.Equal("chat-bot", user.Identity!.Name);
        Assert.True(user.IsInRole(Roles.Member));
        Assert.Equal(ApiSchemes.Session, user.Identity.AuthenticationType);
        Assert.Equal(principal, user.ToPrincipal());
        Assert.Equal(tokenId, user.TokenId());
    }

    [Fact]
    public void An_anonymous_user_has_no_principal()
    {
        var anonymous = new ClaimsPrincipal(new ClaimsIdentity());

        Assert.Throws<InvalidOperationException>(() => anonymous.ToPrincipal());
        Assert.Null(anonymous.TokenId());
    }

    [Fact]
    public void A_pause_caused_by_a_kb_the_caller_may_not_read_keeps_its_time_and_attempts_but_not_the_kb_or_the_reason()
    {
        var pause = new PartitionPause(3, "other-kb", "w1", DateTimeOffset.UnixEpoch, "push to https://other.example/kb.git refused", 4);

        var hidden = PauseView.For(pause, mayReadItsKb: false);
        var shown = PauseView.For(pause, mayReadItsKb: true);

        Assert.Equal(new PauseView(3, null, "w1", DateTimeOffset.UnixEpoch, PauseView.OtherKbReason, 4), hidden);
        Assert.Equal(new PauseView(3, "other-kb", "w1", DateTimeOffset.UnixEpoch, pause.Reason, 4), shown);
    }
}

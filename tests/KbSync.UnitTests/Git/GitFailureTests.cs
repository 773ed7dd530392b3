using KbSync.Contracts;
using KbSync.KbWorker.Git;
using LibGit2Sharp;

namespace KbSync.UnitTests.Git;

/// <summary>libgit2's own messages (seen against a real git http-backend and local remotes) map to stable reason codes.</summary>
public sealed class GitFailureTests
{
    [Theory]
    [InlineData("too many redirects or authentication replays", ReasonCodes.AuthFailed)]
    [InlineData("remote authentication required but no callback set", ReasonCodes.AuthFailed)]
    [InlineData("could not find appropriate mechanism for credentials", ReasonCodes.AuthFailed)]
    [InlineData("unexpected http status code: 403", ReasonCodes.AuthFailed)]
    [InlineData("failed to receive response: timed out", ReasonCodes.NetworkTimeout)]
    [InlineData("could not find repository at '/tmp/no-such-remote.git'", ReasonCodes.RemoteNotFound)]
    [InlineData("unexpected http status code: 404", ReasonCodes.RemoteNotFound)]
    [InlineData("unsupported URL protocol", ReasonCodes.RemoteNotFound)]
    [InlineData("failed to connect to 127.0.0.1: Connection refused", ReasonCodes.RemoteUnreachable)]
    [InlineData("unexpected EOF", ReasonCodes.RemoteUnreachable)]
    public void A_libgit2_message_maps_to_a_stable_reason_code(string libgit2Message, string expected)
    {
        var failure = GitFailure.FromNetwork(new LibGit2SharpException(libgit2Message), "team-notes", "https://example.com/kb.git", "fetch");

        Assert.Equal(expected, failure.ReasonCode);
        Assert.Contains("team-notes", failure.Message);
        Assert.Contains(libgit2Message, failure.Message);
    }
}

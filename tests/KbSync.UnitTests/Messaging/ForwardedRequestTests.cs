using System.Text;
using KbSync.Contracts;
using KbSync.KbWorker.Messaging.Partitions;
using RabbitMQ.Client;

namespace KbSync.UnitTests.Messaging;

/// <summary>What a drained partition's forwarder sends on, where, and whom a forwarded request is from.</summary>
public sealed class ForwardedRequestTests
{
    private static readonly PartitionLayout New = new(2, 64);

    [Fact]
    public void A_request_goes_to_its_kbs_partition_of_the_new_layout_raw_or_in_an_envelope()
    {
        var raw = Encoding.UTF8.GetBytes("""{"operationId":"3f0c6a1e-5a7b-4a57-9d0e-4c1f7f0a9b21","kbId":"team-notes","note":{"text":"x"}}""");
        var envelope = Encoding.UTF8.GetBytes("""{"messageId":"1","messageType":["urn:message:KbSync.Contracts:KbRequest"],"message":{"kbId":"alpha"}}""");
        Assert.Equal(Partitioning.PartitionOf("team-notes", 64), ForwardedRequest.TargetIndex(raw, New, 0));
        Assert.Equal(Partitioning.PartitionOf("alpha", 64), ForwardedRequest.TargetIndex(envelope, New, 0));
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("[1,2]")]
    [InlineData("""{"kbId": 7}""")]
    [InlineData("""{"note":{"text":"x"}}""")]
    public void A_request_without_a_readable_kb_id_goes_to_the_old_index_modulo_the_new_count(string body)
    {
        Assert.Equal(70 % 64, ForwardedRequest.TargetIndex(Encoding.UTF8.GetBytes(body), New, 70));
        Assert.Equal(5, ForwardedRequest.TargetIndex(Encoding.UTF8.GetBytes(body), New, 5));
    }

    [Fact]
    public void Forwarded_properties_keep_the_request_and_carry_the_proven_user_in_a_header()
    {
        var original = new BasicProperties { ContentType = "application/json", MessageId = "m-1", UserId = "alice-bot", Headers = new Dictionary<string, object?> { ["x"] = "y", [ForwardedRequest.UserHeader] = "forged" } };
        var forwarded = ForwardedRequest.PropertiesFor(original, "kbworker", "kb-partition-05");
        Assert.Equal("application/json", forwarded.ContentType);
        Assert.Equal("m-1", forwarded.MessageId);
        Assert.Equal("kbworker", forwarded.UserId);
        Assert.Equal(DeliveryModes.Persistent, forwarded.DeliveryMode);
        Assert.Equal("alice-bot", forwarded.Headers![ForwardedRequest.UserHeader]);
        Assert.Equal("kb-partition-05", forwarded.Headers[ForwardedRequest.FromHeader]);
        Assert.Equal("y", forwarded.Headers["x"]);

        var anonymous = ForwardedRequest.PropertiesFor(new BasicProperties { ContentType = "application/json", Headers = new Dictionary<string, object?> { [ForwardedRequest.UserHeader] = "forged" } }, "kbworker", "kb-partition-05");
        Assert.False(anonymous.Headers!.ContainsKey(ForwardedRequest.UserHeader)); // no user_id: forwarded as from nobody, whatever it claimed
    }

    [Fact]
    public void The_forwarded_user_is_believed_only_from_the_workers_own_broker_user()
    {
        var forwarded = new Dictionary<string, object?> { [ForwardedRequest.FromHeader] = "kb-partition-05"u8.ToArray(), [ForwardedRequest.UserHeader] = "alice-bot"u8.ToArray() };
        Assert.Equal("alice-bot", ForwardedRequest.ProvenUser("kbworker", forwarded, "kbworker"));
        Assert.Equal("mallory", ForwardedRequest.ProvenUser("mallory", forwarded, "kbworker")); // anyone else's headers say nothing
        Assert.Null(ForwardedRequest.ProvenUser("kbworker", new Dictionary<string, object?> { [ForwardedRequest.FromHeader] = "q"u8.ToArray() }, "kbworker"));
        Assert.Equal("kbworker", ForwardedRequest.ProvenUser("kbworker", null, "kbworker")); // the worker's user publishing itself, not forwarding
        Assert.Null(ForwardedRequest.ProvenUser(null, forwarded, "kbworker"));
    }
}

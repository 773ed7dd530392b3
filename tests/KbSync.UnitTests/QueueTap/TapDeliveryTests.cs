using System.Text;
using KbSync.Contracts;
using KbSync.Persistence.QueueTap;

namespace KbSync.UnitTests.QueueTap;

/// <summary>What the queue tap reads from a copy: raw JSON from any producer, or the .NET client's MassTransit envelope; refusal notices by their routing key.</summary>
public sealed class TapDeliveryTests
{
    private static readonly Guid Id = Guid.Parse("3f0c6a1e-5a7b-4a57-9d0e-4c1f7f0a9b21");

    [Fact]
    public void A_raw_json_note_is_read_with_the_message_id_of_its_publish()
    {
        var delivery = Copy("3", "m-1", "application/json",
            $$$"""{"operationId":"{{{Id}}}","kbId":"team-notes","requestedBy":"alice","requestedAt":"2026-11-29T10:15:00Z","note":{"text":"x"}}""");

        var arrival = delivery.ReadArrival();

        Assert.NotNull(arrival);
        Assert.Equal((Id, "team-notes", "alice", OperationKind.Note), (arrival.Request.OperationId, arrival.Request.KbId, arrival.Request.RequestedBy, arrival.Request.Kind));
        Assert.Equal(new DateTimeOffset(2026, 11, 29, 10, 15, 0, TimeSpan.Zero), arrival.Request.RequestedAt);
        Assert.Equal("m-1", arrival.MessageId);
        Assert.Null(delivery.ReadRefusal());
    }

    [Fact]
    public void An_agent_task_in_a_masstransit_envelope_is_read_with_the_envelope_message_id_when_the_property_is_missing()
    {
        var delivery = Copy("0", null, "application/vnd.masstransit+json",
            $$$$"""{"messageId":"env-1","message":{"operationId":"{{{{Id}}}}","kbId":"kb","requestedBy":"bob","requestedAt":"2026-11-29T10:15:00Z","agentTask":{"instruction":"tidy"}}}""");

        var arrival = delivery.ReadArrival();

        Assert.NotNull(arrival);
        Assert.Equal(OperationKind.Agent, arrival.Request.Kind);
        Assert.Equal("env-1", arrival.MessageId);
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("[1,2]")]
    [InlineData("""{"kbId":"kb","requestedBy":"x"}""")]
    [InlineData("""{"operationId":"not-a-uuid","kbId":"kb"}""")]
    [InlineData("""{"operationId":"00000000-0000-0000-0000-000000000000","kbId":"kb"}""")]
    public void A_copy_that_is_no_request_is_passed_over(string body) =>
        Assert.Null(Copy("1", "m", "application/json", body).ReadArrival());

    [Fact]
    public void A_refusal_notice_names_the_operation_and_the_refused_publish_and_is_no_arrival()
    {
        var notice = Copy(Topology.RefusedRoutingKey, "n-1", "application/json", $$"""{"operationId":"{{Id}}","refusedMessageId":"m-1"}""");

        Assert.Equal(new KbSync.Persistence.History.QueueRefusal(Id, "m-1"), notice.ReadRefusal());
        Assert.Null(notice.ReadArrival());
        Assert.Null(Copy(Topology.RefusedRoutingKey, "n-2", "application/json", $$"""{"operationId":"{{Id}}"}""").ReadRefusal());
    }

    private static TapDelivery Copy(string routingKey, string? messageId, string contentType, string body) =>
        new(1, routingKey, messageId, contentType, Encoding.UTF8.GetBytes(body));
}

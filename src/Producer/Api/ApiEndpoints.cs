using KbSync.Contracts;
using KbSync.Persistence.Analytics;
using KbSync.Persistence.History;
using KbSync.Persistence.KnowledgeBases;
using KbSync.Producer.Client;
using Microsoft.Extensions.Options;

namespace KbSync.Producer.Api;

/// <summary>
/// The HTTP API: publish notes, register KBs, read operations. Bad input gets a 400 problem-details
/// answer that says what is wrong; list queries are always bounded.
/// </summary>
public static class ApiEndpoints
{
    public static WebApplication MapKbSyncApi(this WebApplication app)
    {
        app.MapPost("/kbs/{kb}/notes", SubmitNoteAsync).WithName("SubmitNote").WithSummary("Publish a note request; 202 with its operation id.");
        app.MapPost("/kbs/{kb}/agent-tasks", SubmitAgentTaskAsync).WithName("SubmitAgentTask").WithSummary("Publish an agent task; 202 with its operation id.");
        app.MapGet("/operations/{id:guid}", GetOperationAsync).WithName("GetOperation");
        app.MapGet("/operations", ListOperationsAsync).WithName("ListOperations");
        app.MapGet("/kbs", async (KbRegistry registry, CancellationToken ct) => Results.Ok(await registry.ListAsync(ct))).WithName("ListKbs");
        app.MapGet("/queues", async (OperationHistory history, IOptions<RabbitMqOptions> rabbit, CancellationToken ct) => Results.Ok(await history.OpenQueuesAsync(rabbit.Value.Partitions, ct)))
            .WithName("LiveQueues").WithSummary("What is queued and running, per KB, with its partition and why that partition is paused, if it is.");
        app.MapPost("/kbs", RegisterKbAsync).WithName("RegisterKb");
        app.MapGet("/kbs/{kb}/stats", (string kb, string? since, string? until, string? bucket, KbRegistry registry, OperationAnalytics analytics, CancellationToken ct) =>
                GetStatsAsync(kb, since, until, bucket, registry, analytics, ct))
            .WithName("GetKbStats").WithSummary("A KB's analytics over [since, until) (default: the last 24 h), per bucket (default: a round size giving about 48 buckets).")
            .Produces<KbStats>().ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status404NotFound);
        app.MapGet("/stats", (string? since, string? until, string? bucket, KbRegistry registry, OperationAnalytics analytics, CancellationToken ct) =>
                GetStatsAsync(null, since, until, bucket, registry, analytics, ct))
            .WithName("GetStats").WithSummary("Analytics of all KBs over [since, until) (default: the last 24 h), per bucket (default: a round size giving about 48 buckets).")
            .Produces<KbStats>().ProducesProblem(StatusCodes.Status400BadRequest);
        app.MapGet("/health", () => Results.Ok(new { status = "ok" })).WithName("Health");
        return app;
    }

    private static Task<IResult> SubmitNoteAsync(string kb, SubmitNoteBody body, KbSyncClient client, OperationHistory history, HttpResponse response, CancellationToken cancellationToken) =>
        AcceptAsync(kb, history, response, () => client.SubmitNoteAsync(kb, body.RequestedBy ?? "", new NoteContent(body.Text ?? "", body.Title, body.Category, body.Tags), body.OperationId, cancellationToken), cancellationToken);

    private static Task<IResult> SubmitAgentTaskAsync(string kb, SubmitAgentTaskBody body, KbSyncClient client, OperationHistory history, HttpResponse response, CancellationToken cancellationToken) =>
        AcceptAsync(kb, history, response, () => client.SubmitAgentTaskAsync(kb, body.RequestedBy ?? "", new AgentTaskContent(body.Instruction ?? "", body.Agent, body.Operations, body.ReadOnly), body.OperationId, cancellationToken), cancellationToken);

    private static async Task<IResult> AcceptAsync(string kb, OperationHistory history, HttpResponse response, Func<Task<Guid>> submit, CancellationToken cancellationToken)
    {
        try
        {
            var submittedAt = DateTimeOffset.UtcNow;
            var operationId = await submit();
            var position = await history.OpenCountAsync(kb, submittedAt, cancellationToken) + 1;
            return Results.Accepted($"/operations/{operationId}", new AcceptedOperation(operationId, kb, $"/operations/{operationId}", position));
        }
        catch (RequestTooLargeException error)
        {
            return Results.Problem(error.Message, statusCode: StatusCodes.Status413PayloadTooLarge, title: "Request too large");
        }
        catch (ArgumentException error)
        {
            return Results.Problem(error.Message, statusCode: StatusCodes.Status400BadRequest, title: "Invalid request");
        }
        catch (KbSyncQueueFullException error)
        {
            response.Headers.RetryAfter = QueueFullRetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return Results.Problem(error.Message, statusCode: StatusCodes.Status503ServiceUnavailable, title: "Queue full");
        }
        catch (KbSyncPublishException error)
        {
            return Results.Problem(error.Message, statusCode: StatusCodes.Status503ServiceUnavailable, title: "The request could not be queued");
        }
    }

    /// <summary>What a <c>503 Queue full</c> suggests: long enough for the workers to take a few thousand requests.</summary>
    private const int QueueFullRetryAfterSeconds = 30;

    private static async Task<IResult> GetOperationAsync(Guid id, OperationHistory history, IOptions<RabbitMqOptions> rabbit, CancellationToken cancellationToken) =>
        await history.GetAsync(id, cancellationToken) is { } operation
            ? Results.Ok(new OperationView(operation, await history.QueuePositionAsync(operation, cancellationToken),
                operation.Status.IsFinal() ? null : await history.PauseOfAsync(operation.KbId, rabbit.Value.Partitions, cancellationToken)))
            : Results.Problem($"No operation {id} in the history: it is not published, or no worker has taken it yet.", statusCode: StatusCodes.Status404NotFound);

    private static async Task<IResult> ListOperationsAsync(
        string? kb, string? user, string? status, string? kind, DateTimeOffset? since, DateTimeOffset? until, int? limit, string? cursor,
        OperationHistory history, CancellationToken cancellationToken)
    {
        OperationKind? wantedKind = kind switch
        {
            null => null,
            "note" => OperationKind.Note,
            "agent" => OperationKind.Agent,
            _ => (OperationKind?)(-1),
        };
        if (wantedKind == (OperationKind)(-1))
        {
            return Results.Problem($"'{kind}' is not a kind: use note or agent.", statusCode: StatusCodes.Status400BadRequest);
        }

        OperationStatus? wanted = null;
        if (status is not null)
        {
            if (!OperationEnumNames.TryParseStatus(status, out var parsed))
            {
                return Results.Problem($"'{status}' is not a status: use queued, running, succeeded, duplicate, failed or timed_out.", statusCode: StatusCodes.Status400BadRequest);
            }

            wanted = parsed;
        }

        var take = limit ?? HistoryQuery.DefaultLimit;
        if (take is < 1 or > HistoryQuery.MaxLimit)
        {
            return Results.Problem($"limit must be between 1 and {HistoryQuery.MaxLimit}.", statusCode: StatusCodes.Status400BadRequest);
        }

        try
        {
            return Results.Ok(await history.PageAsync(new HistoryQuery(kb, user, wanted, take, wantedKind, since, until, cursor), cancellationToken));
        }
        catch (ArgumentException error)
        {
            return Results.Problem(error.Message, statusCode: StatusCodes.Status400BadRequest);
        }
    }

    private static async Task<IResult> GetStatsAsync(
        string? kb, string? since, string? until, string? bucket, KbRegistry registry, OperationAnalytics analytics, CancellationToken cancellationToken)
    {
        AnalyticsQuery query;
        try
        {
            query = StatsRequest.Parse(kb, since, until, bucket, DateTimeOffset.UtcNow);
        }
        catch (ArgumentException error)
        {
            return Results.Problem(error.Message, statusCode: StatusCodes.Status400BadRequest, title: "Invalid statistics query");
        }

        if (kb is not null && await registry.FindAsync(kb, cancellationToken) is null)
        {
            return Results.Problem($"No KB '{kb}' is registered.", statusCode: StatusCodes.Status404NotFound);
        }

        return Results.Ok(await analytics.GetAllAsync(query, cancellationToken: cancellationToken));
    }

    private static async Task<IResult> RegisterKbAsync(RegisterKbBody body, KbRegistry registry, CancellationToken cancellationToken)
    {
        try
        {
            var record = await registry.AddAsync(new KbRegistration(body.Id ?? "", body.Remote, body.Branch ?? "main", body.TokenEnv), body.Replace, cancellationToken);
            return Results.Created($"/kbs/{record.Id}", record);
        }
        catch (ArgumentException error)
        {
            return Results.Problem(error.Message, statusCode: StatusCodes.Status400BadRequest, title: "Invalid KB registration");
        }
    }
}

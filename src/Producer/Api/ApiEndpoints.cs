using System.Security.Claims;
using KbSync.Contracts;
using KbSync.Persistence.Analytics;
using KbSync.Persistence.History;
using KbSync.Persistence.KnowledgeBases;
using KbSync.Producer.Api.Security;
using KbSync.Producer.Client;
using Microsoft.AspNetCore.Authorization;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Npgsql;

namespace KbSync.Producer.Api;

/// <summary>
/// The HTTP API: publish notes, register KBs, read operations. Bad input gets a 400 problem-details
/// answer that says what is wrong; list queries are always bounded. Every endpoint but
/// <c>/health</c> needs a signed-in principal (the fallback policy); per-KB rights are policies
/// (<see cref="KbPolicies"/>), and lists and statistics show only the KBs the caller may read.
/// </summary>
public static class ApiEndpoints
{
    public static WebApplication MapKbSyncApi(this WebApplication app)
    {
        app.MapPost("/kbs/{kb}/notes", SubmitNoteAsync).WithName("SubmitNote").WithSummary("Publish a note request; 202 with its operation id. Needs 'write' on the KB.")
            .RequireAuthorization(KbPolicies.Write).Accepts().Refusals();
        app.MapPost("/kbs/{kb}/agent-tasks", SubmitAgentTaskAsync).WithName("SubmitAgentTask").WithSummary("Publish an agent task; 202 with its operation id. Needs 'agent' on the KB.")
            .RequireAuthorization(KbPolicies.Agent).Accepts().Refusals();
        app.MapGet("/operations/{id}", GetOperationAsync).WithName("GetOperation")
            .WithSummary("An operation of a KB the caller may read (404 for any other, so other KBs' ids do not leak).")
            .Produces<OperationView>().Authenticated().ProducesProblem(StatusCodes.Status404NotFound);
        app.MapGet("/operations", ListOperationsAsync).WithName("ListOperations")
            .WithSummary("Operations of the KBs the caller may read, newest first; kb= of a KB the caller may not read is 403.")
            .Produces<HistoryPage>().ProducesProblem(StatusCodes.Status400BadRequest).Refusals();
        app.MapGet("/kbs", ListKbsAsync).WithName("ListKbs").WithSummary("The KBs the caller may read, with its rights on each (tokenEnv only where it may manage).")
            .Produces<List<KbView>>().Authenticated();
        app.MapGet("/queues", ListQueuesAsync).WithName("LiveQueues")
            .WithSummary("What is queued and running, per KB the caller may read, with its partition and why that partition is paused, if it is.")
            .Produces<List<QueueView>>().Authenticated();
        app.MapPost("/kbs", RegisterKbAsync).WithName("RegisterKb")
            .WithSummary("Register a KB (admins; 201), or re-point one with replace: true (admins, or 'manage' on it; 200); an existing KB without replace is 409.")
            .Produces<KbView>(StatusCodes.Status201Created).Produces<KbView>().ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status409Conflict).Refusals();
        app.MapGet("/kbs/{kb}/stats", (string kb, string? since, string? until, string? bucket, bool? exact, KbRegistry registry, OperationAnalytics analytics, CancellationToken ct) =>
                GetKbStatsAsync(kb, since, until, bucket, exact ?? false, registry, analytics, ct))
            .WithName("GetKbStats").WithSummary("A KB's analytics over [since, until) (default: the last 24 h), per bucket (default: a round size giving about 48 buckets); percentiles from rollups, within 1 %, or exact=true for percentile_cont over the raw rows (slow over long ranges). Needs 'read' on the KB.")
            .RequireAuthorization(KbPolicies.Read)
            .Produces<KbStats>().ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status404NotFound).Refusals();
        app.MapGet("/stats", (string? since, string? until, string? bucket, bool? exact, CallerKbs caller, OperationAnalytics analytics, CancellationToken ct) =>
                GetStatsAsync(since, until, bucket, exact ?? false, caller, analytics, ct))
            .WithName("GetStats").WithSummary("Analytics of every KB the caller may read over [since, until) (default: the last 24 h), per bucket (default: a round size giving about 48 buckets); percentiles from rollups, within 1 %, or exact=true for percentile_cont over the raw rows (slow over long ranges).")
            .Produces<KbStats>().ProducesProblem(StatusCodes.Status400BadRequest).Authenticated();
        app.MapGet("/me", (ClaimsPrincipal user) => CallerView.For(user.ToPrincipal()))
            .WithName("Me").WithSummary("Who the token or session signs in as.").Produces<CallerView>().Authenticated();
        app.MapGet("/health", () => Results.Ok(new { status = "ok" })).WithName("Health").AllowAnonymous();
        return app;
    }

    /// <summary>Documents the 401 (problem details) of an endpoint that needs a signed-in principal.</summary>
    private static RouteHandlerBuilder Authenticated(this RouteHandlerBuilder endpoint) =>
        endpoint.ProducesProblem(StatusCodes.Status401Unauthorized);

    /// <summary>Documents the 401 and 403 (problem details) of an endpoint that needs a right on a KB.</summary>
    private static RouteHandlerBuilder Refusals(this RouteHandlerBuilder endpoint) =>
        endpoint.Authenticated().ProducesProblem(StatusCodes.Status403Forbidden);

    /// <summary>Documents what publishing answers: 202, or why nothing was queued.</summary>
    private static RouteHandlerBuilder Accepts(this RouteHandlerBuilder endpoint) =>
        endpoint.Produces<AcceptedOperation>(StatusCodes.Status202Accepted).ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge).ProducesProblem(StatusCodes.Status503ServiceUnavailable);

    private static Task<IResult> SubmitNoteAsync(string kb, SubmitNoteBody body, ClaimsPrincipal user, RelayPublisher publisher, OperationHistory history, IOptions<RabbitMqOptions> rabbit, HttpResponse response, CancellationToken cancellationToken) =>
        AcceptAsync(kb, history, rabbit.Value.Partitions, response, deadline => publisher.SubmitNoteAsync(
            user.ToPrincipal().Name, kb, body.RequestedBy ?? "", new NoteContent(body.Text ?? "", body.Title, body.Category, body.Tags), body.OperationId, deadline), cancellationToken);

    private static Task<IResult> SubmitAgentTaskAsync(string kb, SubmitAgentTaskBody body, ClaimsPrincipal user, RelayPublisher publisher, OperationHistory history, IOptions<RabbitMqOptions> rabbit, HttpResponse response, CancellationToken cancellationToken) =>
        AcceptAsync(kb, history, rabbit.Value.Partitions, response, deadline => publisher.SubmitAgentTaskAsync(
            user.ToPrincipal().Name, kb, body.RequestedBy ?? "", new AgentTaskContent(body.Instruction ?? "", body.Agent, body.Operations, body.ReadOnly), body.OperationId, deadline), cancellationToken);

    /// <summary>
    /// Publishes, then answers with the request's queue position once the queue tap has recorded it
    /// (waiting at most <see cref="PositionWait"/>: the tap reads in the broker's order, so by then every
    /// request ahead of it is recorded and counted).
    /// </summary>
    private static async Task<IResult> AcceptAsync(string kb, OperationHistory history, int partitions, HttpResponse response, Func<CancellationToken, Task<Guid>> submit, CancellationToken cancellationToken)
    {
        try
        {
            var operationId = await PublishDeadline.RunAsync(PublishWait, submit, cancellationToken);
            var position = await history.PositionOnceQueuedAsync(operationId, partitions, PositionWait, cancellationToken);
            return Results.Accepted($"/operations/{operationId}", new AcceptedOperation(operationId, kb, $"/operations/{operationId}", position));
        }
        catch (RequestTooLargeException error)
        {
            return Results.Problem(error.Message, statusCode: StatusCodes.Status413PayloadTooLarge, title: "Request too large");
        }
        catch (ArgumentException error)
        {
            return InvalidRequest(error);
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
        catch (TimeoutException error)
        {
            response.Headers.RetryAfter = "5";
            return Results.Problem(error.Message, statusCode: StatusCodes.Status503ServiceUnavailable, title: "RabbitMQ did not answer");
        }
    }

    /// <summary>How long <c>POST</c> waits for a broker node to take its request before answering <c>503</c> (<see cref="PublishDeadline"/>).</summary>
    private static readonly TimeSpan PublishWait = TimeSpan.FromSeconds(10);

    /// <summary>How long <c>POST</c> waits for the queue tap to record its request before answering without a position.</summary>
    private static readonly TimeSpan PositionWait = TimeSpan.FromSeconds(2);

    /// <summary>What a <c>503 Queue full</c> suggests: long enough for the workers to take a few thousand requests.</summary>
    private const int QueueFullRetryAfterSeconds = 30;

    /// <summary>
    /// An operation the caller may not read answers exactly as one that does not exist: a 403 would say
    /// the id is taken, which is worth knowing to someone who wants to squat or watch it.
    /// </summary>
    private static async Task<IResult> GetOperationAsync(
        Guid id, ClaimsPrincipal user, IAuthorizationService authorization, OperationHistory history, IOptions<RabbitMqOptions> rabbit, CancellationToken cancellationToken)
    {
        if (await history.GetAsync(id, cancellationToken) is not { } operation || !(await AuthorizeAsync(authorization, user, operation.KbId, KbPolicies.Read)).Succeeded)
        {
            return Results.Problem($"No operation {id} in the history of a KB {user.Identity?.Name} may read: it is not published, the queue tap has not recorded it yet, or it is another KB's.",
                statusCode: StatusCodes.Status404NotFound);
        }

        var pause = operation.Status.IsFinal() ? null : await history.PauseOfAsync(operation.KbId, rabbit.Value.Partitions, cancellationToken);
        var pauseView = pause is null ? null : PauseView.For(pause, (await AuthorizeAsync(authorization, user, pause.KbId, KbPolicies.Read)).Succeeded);
        return Results.Ok(new OperationView(operation, await history.QueuePositionAsync(operation, rabbit.Value.Partitions, cancellationToken), pauseView));
    }

    private static async Task<IResult> ListOperationsAsync(
        string? kb, string? user, string? status, string? kind, string? since, string? until, int? limit, string? cursor,
        ClaimsPrincipal caller, CallerKbs callerKbs, IAuthorizationService authorization, OperationHistory history, CancellationToken cancellationToken)
    {
        HistoryQuery query;
        try
        {
            query = HistoryFilter(kb, user, status, kind, since, until, limit, cursor, DateTimeOffset.UtcNow);
        }
        catch (ArgumentException error)
        {
            return InvalidRequest(error);
        }

        // one KB asked: the caller must read it (403, whether or not the KB exists); none: the KBs it may read
        if (kb is not null && await AuthorizeAsync(authorization, caller, kb, KbPolicies.Read) is { Succeeded: false } refused)
        {
            return Forbid(refused);
        }

        try
        {
            return Results.Ok(await history.PageAsync(query with { KbSet = kb is null ? callerKbs.Readable : null }, cancellationToken));
        }
        catch (ArgumentException error)
        {
            return InvalidRequest(error);
        }
    }

    /// <summary>The query string of <c>GET /operations</c>; throws <see cref="ArgumentException"/> naming the parameter that is wrong.</summary>
    private static HistoryQuery HistoryFilter(
        string? kb, string? user, string? status, string? kind, string? since, string? until, int? limit, string? cursor, DateTimeOffset now)
    {
        OperationKind? wantedKind = kind switch
        {
            null => null,
            "note" => OperationKind.Note,
            "agent" => OperationKind.Agent,
            _ => throw new ArgumentException($"kind '{kind}' is not a kind: use note or agent."),
        };
        OperationStatus? wanted = status is null ? null
            : OperationEnumNames.TryParseStatus(status, out var parsed) ? parsed
            : throw new ArgumentException($"status '{status}' is not a status: use queued, running, succeeded, duplicate, failed or timed_out.");
        var take = limit ?? HistoryQuery.DefaultLimit;
        if (take is < 1 or > HistoryQuery.MaxLimit)
        {
            throw new ArgumentException($"limit must be between 1 and {HistoryQuery.MaxLimit}.");
        }

        return new HistoryQuery(ApiArguments.Kb(kb), ApiArguments.Requester(user), wanted, take, wantedKind,
            ApiArguments.Time(since, nameof(since), now), ApiArguments.Time(until, nameof(until), now), cursor);
    }

    private static IResult InvalidRequest(ArgumentException error) =>
        Results.Problem(ApiArguments.ReasonOf(error), statusCode: StatusCodes.Status400BadRequest, title: "Invalid request");

    private static async Task<IResult> ListKbsAsync(CallerKbs caller, KbRegistry registry, CancellationToken cancellationToken) =>
        Results.Ok((await registry.ListAsync(cancellationToken)).Where(kb => caller.MayRead(kb.Id)).Select(kb => KbView.For(kb, caller)).ToList());

    private static async Task<IResult> ListQueuesAsync(CallerKbs caller, OperationHistory history, IOptions<RabbitMqOptions> rabbit, CancellationToken cancellationToken) =>
        Results.Ok((await history.OpenQueuesAsync(rabbit.Value.Partitions, cancellationToken)).Where(q => caller.MayRead(q.KbId)).Select(q => QueueView.For(q, caller)).ToList());

    private static async Task<IResult> GetKbStatsAsync(
        string kb, string? since, string? until, string? bucket, bool exact, KbRegistry registry, OperationAnalytics analytics, CancellationToken cancellationToken)
    {
        if (ParseStats(kb, since, until, bucket, out var query) is { } invalid)
        {
            return invalid;
        }

        if (await registry.FindAsync(kb, cancellationToken) is null)
        {
            return Results.Problem($"No KB '{kb}' is registered.", statusCode: StatusCodes.Status404NotFound);
        }

        return Results.Ok(await analytics.GetAllAsync(query with { Exact = exact }, cancellationToken: cancellationToken));
    }

    /// <summary>All KBs for an admin; for anyone else the KBs it may read, in one statement per figure (<see cref="AnalyticsQuery.KbSet"/>).</summary>
    private static async Task<IResult> GetStatsAsync(string? since, string? until, string? bucket, bool exact, CallerKbs caller, OperationAnalytics analytics, CancellationToken cancellationToken) =>
        ParseStats(null, since, until, bucket, out var query) ?? Results.Ok(await analytics.GetAllAsync(query with { KbSet = caller.Readable, Exact = exact }, cancellationToken: cancellationToken));

    /// <summary>The query, or (returned) the 400 saying what is wrong with it.</summary>
    private static IResult? ParseStats(string? kb, string? since, string? until, string? bucket, out AnalyticsQuery query)
    {
        try
        {
            query = StatsRequest.Parse(kb, since, until, bucket, DateTimeOffset.UtcNow);
            return null;
        }
        catch (ArgumentException error)
        {
            query = null!;
            return Results.Problem(ApiArguments.ReasonOf(error), statusCode: StatusCodes.Status400BadRequest, title: "Invalid statistics query");
        }
    }

    /// <summary>
    /// Registering a KB names where the workers push and which secret they send: only an admin adds
    /// one; an admin or a manager of the KB re-points it, and only when asked to (<c>replace</c>), so a
    /// registration never changes by accident. Who may not manage the KB learns nothing of it (403
    /// before any lookup).
    /// </summary>
    private static async Task<IResult> RegisterKbAsync(
        RegisterKbBody body, ClaimsPrincipal user, CallerKbs caller, IAuthorizationService authorization, KbRegistry registry, RemoteRules rules, CancellationToken cancellationToken)
    {
        var id = body.Id ?? "";
        if (await AuthorizeAsync(authorization, user, id, KbPolicies.Manage) is { Succeeded: false })
        {
            return ApiProblems.Forbid($"Registering a KB needs an admin, and re-pointing one needs the 'manage' right on it, which {user.Identity?.Name} does not hold on '{id}'.");
        }

        var registration = new KbRegistration(id, body.Remote, body.Branch ?? "main", body.TokenEnv);
        try
        {
            registration.ToRecord(DateTimeOffset.UtcNow, rules); // checks the input, so that AddAsync refuses only a registration made meanwhile
        }
        catch (ArgumentException error)
        {
            return Results.Problem(error.Message, statusCode: StatusCodes.Status400BadRequest, title: "Invalid KB registration");
        }

        var existing = await registry.FindAsync(id, cancellationToken);
        if (existing is null && !caller.Principal.IsAdmin)
        {
            return ApiProblems.Forbid($"Only an admin registers a new KB; '{id}' is not registered.");
        }

        if (existing is not null && !body.Replace)
        {
            return AlreadyRegistered(id);
        }

        try
        {
            var record = await registry.AddAsync(registration, replace: existing is not null, cancellationToken);
            var view = KbView.For(record, caller);
            return existing is null ? Results.Created($"/kbs/{record.Id}", view) : Results.Ok(view);
        }
        catch (Exception error) when (error is ArgumentException or DbUpdateException { InnerException: PostgresException { SqlState: PostgresErrorCodes.UniqueViolation } })
        {
            return AlreadyRegistered(id); // registered by someone else between the lookup and the insert
        }
    }

    private static IResult AlreadyRegistered(string id) =>
        Results.Problem($"KB '{id}' is already registered; send \"replace\": true to re-point it (nothing was changed).", statusCode: StatusCodes.Status409Conflict, title: "KB already registered");

    private static Task<AuthorizationResult> AuthorizeAsync(IAuthorizationService authorization, ClaimsPrincipal user, string kbId, string policy) =>
        authorization.AuthorizeAsync(user, new KbResource(kbId), policy);

    private static IResult Forbid(AuthorizationResult refused) =>
        ApiProblems.Forbid(string.Join(" ", refused.Failure?.FailureReasons.Select(r => r.Message) ?? []) is { Length: > 0 } reason ? reason : "Forbidden.");
}

using KbSync.Contracts;

namespace KbSync.Producer.Api;

/// <summary>
/// The query and route values the endpoints read as text, checked in one place, so that every bad
/// value is a 400 whose detail names its parameter (<see cref="ArgumentException"/> with the reason):
/// KB ids, requesters, and times, which are ISO 8601 or ages (<c>90m</c>, <c>24h</c>, <c>7d</c>) wherever
/// a time is accepted, read by the one parser the statistics use (<see cref="StatsRequest.ParseTime"/>).
/// </summary>
public static class ApiArguments
{
    /// <summary>A KB id (<see cref="KbIds"/>); null stays null (no filter).</summary>
    public static string? Kb(string? value, string name = "kb") =>
        value is null || KbIds.IsValid(value) ? value : throw new ArgumentException($"{name} '{value}' is not a valid KB id: {KbIds.Rule}.", name);

    /// <summary>A requester as <c>requestedBy</c> holds it: never longer than <see cref="RequestLimits.MaxRequesterLength"/>, so a longer filter is a mistake.</summary>
    public static string? Requester(string? value, string name = "user") =>
        value is null || value.Length <= RequestLimits.MaxRequesterLength
            ? value
            : throw new ArgumentException($"{name} is longer than {RequestLimits.MaxRequesterLength} characters, which no requester is.", name);

    /// <summary>A time, ISO 8601 or an age meaning that long before <paramref name="now"/>; null stays null.</summary>
    public static DateTimeOffset? Time(string? value, string name, DateTimeOffset now) =>
        value is null ? null : StatsRequest.ParseTime(value, name, now);

    /// <summary>
    /// What an <see cref="ArgumentException"/> says, without the " (Parameter 'x')" .NET appends when it
    /// names its parameter: the reason already names it, and an answer or an error line is one sentence.
    /// </summary>
    public static string ReasonOf(ArgumentException error) =>
        error.ParamName is { } name ? error.Message.Replace($" (Parameter '{name}')", "", StringComparison.Ordinal) : error.Message;

    /// <summary>
    /// Every endpoint with a <c>{kb}</c> in its route answers a malformed KB id with a 400 naming
    /// <c>kb</c>, before it runs (and after authorization, so who may not call it learns nothing more).
    /// </summary>
    public static IApplicationBuilder UseKbRouteCheck(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        if (context.GetRouteValue("kb") is string kb && !KbIds.IsValid(kb))
        {
            await ApiProblems.WriteAsync(context, StatusCodes.Status400BadRequest, "Invalid request", $"kb '{kb}' is not a valid KB id: {KbIds.Rule}.");
            return;
        }

        await next(context);
    });
}

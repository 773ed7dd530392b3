using System.Collections;
using System.Reflection;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Diagnostics;

namespace KbSync.Producer.Api;

/// <summary>
/// What the framework refuses before an endpoint runs (a route value or query parameter that does not
/// bind to its type, a body that is not JSON, a field of the wrong JSON type, a missing body), as
/// problem details whose detail names the parameter or the body's field and says what it must be.
/// Minimal APIs throw these as <see cref="BadHttpRequestException"/> (with
/// <see cref="RouteHandlerOptions.ThrowOnBadRequest"/>); without this they answer an empty 400, or
/// a message with .NET type names in it.
/// </summary>
public sealed partial class BindingProblems : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        if (exception is not BadHttpRequestException refused || httpContext.Response.HasStarted)
        {
            return false;
        }

        var status = refused.StatusCode;
        var detail = httpContext.Features.Get<Microsoft.AspNetCore.Antiforgery.IAntiforgeryValidationFeature>() is { IsValid: false }
            ? Dashboard.SignInPage.AntiforgeryRefused
            : Explain(refused, httpContext.GetEndpoint()?.Metadata.GetMetadata<Microsoft.AspNetCore.Http.Metadata.IAcceptsMetadata>()?.RequestType);
        await ApiProblems.WriteAsync(httpContext, status, status == StatusCodes.Status415UnsupportedMediaType ? "Unsupported media type" : "Invalid request", detail);
        return true;
    }

    /// <summary>The detail for a refusal of the framework; <paramref name="bodyType"/> is the endpoint's body, to name a field's expected form.</summary>
    public static string Explain(BadHttpRequestException refused, Type? bodyType)
    {
        if (refused.InnerException is JsonException json)
        {
            return Json(json, bodyType);
        }

        if (BindFailed().Match(refused.Message) is { Success: true } bind)
        {
            return $"{bind.Groups["name"].Value} '{bind.Groups["value"].Value}' is not {Expected(bind.Groups["type"].Value)}.";
        }

        if (NoBody().IsMatch(refused.Message))
        {
            return NeedsJsonBody;
        }

        if (Missing().Match(refused.Message) is { Success: true } missing)
        {
            return missing.Groups["name"].Value == "body"
                ? NeedsJsonBody
                : $"{missing.Groups["name"].Value} is required.";
        }

        if (NoForm().IsMatch(refused.Message))
        {
            return "The request needs a form body (Content-Type: application/x-www-form-urlencoded) with the form's fields and its antiforgery token.";
        }

        if (NotJson().Match(refused.Message) is { Success: true } notJson)
        {
            return NotJsonDetail(notJson.Groups["type"].Value);
        }

        return refused.Message;
    }

    /// <summary>
    /// The detail of a 415 the framework answers by itself, without throwing (a JSON endpoint sent a
    /// body of another media type): status code pages make it a problem with no detail otherwise.
    /// </summary>
    public static void ExplainUnsupportedMediaType(ProblemDetailsContext context)
    {
        if (context.ProblemDetails.Status == StatusCodes.Status415UnsupportedMediaType && context.ProblemDetails.Detail is null)
        {
            context.ProblemDetails.Detail = NotJsonDetail(context.HttpContext.Request.GetTypedHeaders().ContentType?.MediaType.Value ?? "");
        }
    }

    private static string NotJsonDetail(string mediaType) =>
        $"The body must be JSON (Content-Type: application/json), not '{mediaType}'.";

    /// <summary>A body that is not JSON at all, or a field whose JSON value cannot be its type.</summary>
    private static string Json(JsonException error, Type? bodyType)
    {
        var field = error.Path is { Length: > 2 } path ? path[2..] : null; // "$.operations[0].op" -> "operations[0].op"
        var converting = error.Message.StartsWith("The JSON value could not be converted", StringComparison.Ordinal);
        if (field is null)
        {
            return converting
                ? "The body must be a JSON object (its fields are in /openapi/v1.json)."
                : $"The body is not valid JSON: {Reason(error)} (line {error.LineNumber + 1}, byte {error.BytePositionInLine + 1}).";
        }

        if (!converting)
        {
            return $"The body's field '{field}' is not valid JSON: {Reason(error)}.";
        }

        return FieldType(bodyType, field) is { } type
            ? $"The body's field '{field}' must be {Expected(type)}."
            : $"The body's field '{field}' has a value of the wrong type (see /openapi/v1.json).";
    }

    /// <summary>System.Text.Json's reason without its position suffix (" Path: $ | LineNumber: 0 | …").</summary>
    private static string Reason(JsonException error) => error.Message.Split(" Path:", 2)[0].Split(" LineNumber:", 2)[0].TrimEnd('.', ' ', '|');

    /// <summary>The type a JSON path of the body leads to ("operations[0].op"), by the body type's properties; null when it cannot be followed.</summary>
    private static Type? FieldType(Type? type, string path)
    {
        foreach (var step in PathSteps().Matches(path).Select(m => m.Value))
        {
            if (type is null)
            {
                return null;
            }

            type = step.StartsWith('[')
                ? ElementType(type)
                : type.GetProperty(step, BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase)?.PropertyType;
        }

        return type;
    }

    private static Type? ElementType(Type type) =>
        type.IsArray ? type.GetElementType() : type.GetInterfaces().Append(type).FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IEnumerable<>))?.GetGenericArguments()[0];

    private static string Expected(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        return type == typeof(string) ? "a string"
            : type == typeof(Guid) ? "a UUID (such as 0f8fad5b-d9cb-469f-a165-70867728950e)"
            : type == typeof(bool) ? "true or false"
            : type == typeof(int) || type == typeof(long) ? "a whole number"
            : type == typeof(DateTimeOffset) || type == typeof(DateTime) ? "an ISO 8601 time"
            : typeof(IEnumerable).IsAssignableFrom(type) ? "an array"
            : "an object";
    }

    /// <summary>The framework names a type as C# does ("int?", "Guid"), in a route or query binding failure.</summary>
    private static string Expected(string typeName) => typeName.TrimEnd('?') switch
    {
        "Guid" => Expected(typeof(Guid)),
        "int" or "long" or "Int32" or "Int64" => Expected(typeof(int)),
        "bool" or "Boolean" => Expected(typeof(bool)),
        "DateTimeOffset" or "DateTime" => Expected(typeof(DateTimeOffset)),
        _ => "of the form it needs (see /openapi/v1.json)",
    };

    [GeneratedRegex("""^Failed to bind parameter "(?<type>\S+) (?<name>\w+)" from "(?<value>.*)"\.$""", RegexOptions.Singleline)]
    private static partial Regex BindFailed();

    private const string NeedsJsonBody = "The request needs a JSON body (Content-Type: application/json); see /openapi/v1.json for its fields.";

    /// <summary>A JSON endpoint called with no body at all ("Implicit body inferred for parameter … but no body was provided").</summary>
    [GeneratedRegex("""^Implicit body inferred for parameter "\w+" but no body was provided""")]
    private static partial Regex NoBody();

    [GeneratedRegex("""^Required parameter "(?<type>\S+) (?<name>\w+)" was not provided""")]
    private static partial Regex Missing();

    [GeneratedRegex("""request without body, failed to bind parameter "\S+ \w+" from the request body as form""")]
    private static partial Regex NoForm();

    [GeneratedRegex("""^Expected a supported JSON media type but got "(?<type>[^"]*)"\.$""")]
    private static partial Regex NotJson();

    [GeneratedRegex(@"\[\d+\]|[^.\[\]]+")]
    private static partial Regex PathSteps();
}

using System.CommandLine;
using System.CommandLine.Parsing;
using System.Text.RegularExpressions;

namespace KbSync.Producer.Cli;

/// <summary>
/// System.CommandLine's parse errors as the CLI reports every bad input: one line on standard error
/// naming the option or argument and what it must be, exit code 2. Its own messages name .NET types
/// ("as expected type 'System.Nullable`1[System.DateTimeOffset]'"), which tell a user nothing.
/// </summary>
internal static partial class CliErrors
{
    public const int BadInput = 2;

    /// <summary>The first parse error as one line (the others usually follow from it), with where to read the command's usage.</summary>
    public static string Describe(ParseResult parse)
    {
        var error = parse.Errors[0];
        var command = string.Join(' ', CommandPath(parse.CommandResult));
        return $"error: {Explain(parse, error)} (see 'kbsync {command}{(command.Length > 0 ? " " : "")}--help')".Replace("kbsync kbsync", "kbsync", StringComparison.Ordinal);
    }

    /// <summary>A count of seconds or items that must be 1 or more: 0 or less is a parse error naming the option.</summary>
    public static void RequirePositive(Option<int> option) => option.Validators.Add(result =>
    {
        if (result.Tokens.Count == 1 && int.TryParse(result.Tokens[0].Value, System.Globalization.CultureInfo.InvariantCulture, out var value) && value < 1)
        {
            result.AddError($"{option.Name} must be at least 1, not {value}.");
        }
    });

    private static string Explain(ParseResult parse, ParseError error)
    {
        var message = OneLine(error.Message);
        if (Unrecognized().Match(message) is { Success: true } unrecognized && OptionBefore(parse, unrecognized.Groups["value"].Value) is { } before)
        {
            return $"{before.Name} does not take '{unrecognized.Groups["value"].Value}'{(before.ValueType == typeof(bool) ? $": it is a flag (give {before.Name} alone)" : "")}.";
        }

        if (RequiredArgument().IsMatch(message) && MissingArgument(parse) is { } missing)
        {
            return $"<{missing.Name}> is missing{(string.IsNullOrEmpty(missing.Description) ? "" : $": {missing.Description}")}";
        }

        if (CannotParse().Match(message) is not { Success: true } cannot)
        {
            return message;
        }

        var (name, type) = error.SymbolResult switch
        {
            ArgumentResult { Parent: OptionResult option } argument => (option.Option.Name, argument.Argument.ValueType),
            OptionResult option => (option.Option.Name, option.Option.ValueType),
            ArgumentResult argument => ($"<{argument.Argument.Name}>", argument.Argument.ValueType),
            _ => (cannot.Groups["name"].Value, typeof(object)),
        };
        return $"{name}: '{cannot.Groups["value"].Value}' is not {Expected(type)}.";
    }

    /// <summary>The first argument of the command that got no value (System.CommandLine's message names only the command).</summary>
    private static Argument? MissingArgument(ParseResult parse) =>
        parse.CommandResult.Command.Arguments.FirstOrDefault(argument => parse.GetResult(argument) is not ArgumentResult { Tokens.Count: > 0 });

    /// <summary>The option a stray value followed ("--json maybe", "--json=maybe"), if any.</summary>
    private static Option? OptionBefore(ParseResult parse, string value)
    {
        var tokens = parse.Tokens;
        for (var i = 1; i < tokens.Count; i++)
        {
            if (tokens[i].Value == value && tokens[i - 1].Type == TokenType.Option)
            {
                var name = tokens[i - 1].Value;
                return parse.CommandResult.Command.Options.FirstOrDefault(o => o.Name == name || o.Aliases.Contains(name));
            }
        }

        return null;
    }

    private static string Expected(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        return type == typeof(Guid) ? "an id (a UUID such as 0f8fad5b-d9cb-469f-a165-70867728950e)"
            : type == typeof(int) || type == typeof(long) ? "a whole number"
            : type == typeof(bool) ? "true or false (or leave the value out)"
            : type == typeof(DateTimeOffset) ? "an ISO 8601 time"
            : "of the form the option's help describes";
    }

    private static IEnumerable<string> CommandPath(SymbolResult? result)
    {
        var names = new Stack<string>();
        for (var at = result; at is not null; at = at.Parent)
        {
            if (at is CommandResult { Parent: not null } command)
            {
                names.Push(command.Command.Name);
            }
        }

        return names;
    }

    private static string OneLine(string text) => string.Join(' ', text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    [GeneratedRegex("^Unrecognized command or argument '(?<value>.*)'")]
    private static partial Regex Unrecognized();

    [GeneratedRegex("^Required argument missing for command")]
    private static partial Regex RequiredArgument();

    [GeneratedRegex("^Cannot parse argument '(?<value>.*)' for (?:option|command|argument) '(?<name>[^']*)'")]
    private static partial Regex CannotParse();
}

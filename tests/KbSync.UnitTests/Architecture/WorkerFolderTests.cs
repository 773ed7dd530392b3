using System.Reflection;
using System.Reflection.Emit;
using System.Text.RegularExpressions;
using KbSync.KbWorker.Operations;

namespace KbSync.UnitTests.Architecture;

/// <summary>
/// The worker's folders depend on each other one way only, in the order <c>src/KbWorker/README.md</c>
/// states in one line. Read from the compiled worker, not its source: every type of each folder's
/// namespaces, its members' signatures and its methods' bodies (each type, method and field their IL
/// names), so a type reached without a <c>using</c> (a parent namespace, a full name) counts too.
/// Types at the project's root (<c>Program</c>, <c>KbWorkerExtensions</c>, <c>KbWorkerOptions</c>) wire and
/// configure every folder and are outside the rule.
/// </summary>
public sealed partial class WorkerFolderTests
{
    private const string Root = "KbSync.KbWorker";

    private static readonly Dictionary<short, OpCode> OpCodesByValue = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => o.Value);

    [Fact]
    public void Every_dependency_between_the_worker_s_folders_points_down_the_README_s_line()
    {
        var order = ReadmeOrder();
        var (dependencies, unresolved) = FolderDependencies();

        Assert.Empty(unresolved);
        Assert.Empty(dependencies.Keys.Concat(dependencies.Values.SelectMany(d => d.Keys)).Distinct().Except(order)); // every folder has its place in the line
        var upward = dependencies
            .SelectMany(from => from.Value.Keys
                .Where(to => order.IndexOf(to) < order.IndexOf(from.Key))
                .Select(to => $"{from.Key} -> {to} ({string.Join(", ", from.Value[to].Take(3))})"))
            .ToList();
        Assert.Empty(upward);
    }

    [Fact]
    public void The_check_sees_dependencies_made_only_inside_method_bodies_and_without_a_using()
    {
        var (dependencies, _) = FolderDependencies();

        Assert.Contains("Failures", dependencies["Git"].Keys); // CrashPoint.Reach: a static call, nothing in any signature
        Assert.Contains("Pipeline", dependencies["Agents"].Keys); // Agents.Protection and Agents.Sandbox count as Agents
        Assert.Contains("Git", dependencies["Operations"].Keys);
    }

    /// <summary>The folders in the README's line, first to last: <c>`A → B → C`</c>.</summary>
    private static List<string> ReadmeOrder()
    {
        var folder = new DirectoryInfo(AppContext.BaseDirectory);
        while (folder is not null && !File.Exists(Path.Combine(folder.FullName, "src", "KbWorker", "README.md")))
        {
            folder = folder.Parent;
        }

        Assert.NotNull(folder);
        var readme = File.ReadAllText(Path.Combine(folder.FullName, "src", "KbWorker", "README.md"));
        var line = Assert.Single(DependencyLine().Matches(readme));
        return line.Groups[1].Value.Split('→', StringSplitOptions.TrimEntries).ToList();
    }

    /// <summary>Folder -> the folders it uses -> which of its types use them.</summary>
    private static (Dictionary<string, Dictionary<string, SortedSet<string>>> Dependencies, List<string> Unresolved) FolderDependencies()
    {
        var dependencies = new Dictionary<string, Dictionary<string, SortedSet<string>>>();
        var unresolved = new List<string>();
        foreach (var type in typeof(KbOperationRunner).Assembly.GetTypes())
        {
            if (FolderOf(type) is not { } from)
            {
                continue;
            }

            var uses = dependencies.TryGetValue(from, out var found) ? found : dependencies[from] = [];
            foreach (var used in ReferencedBy(type, unresolved).SelectMany(Flatten))
            {
                if (FolderOf(used) is { } to && to != from)
                {
                    (uses.TryGetValue(to, out var by) ? by : uses[to] = []).Add(OuterMost(type).Name);
                }
            }
        }

        return (dependencies, unresolved);
    }

    private static string? FolderOf(Type type)
    {
        var ns = OuterMost(type).Namespace;
        return ns is not null && ns.StartsWith(Root + ".", StringComparison.Ordinal) ? ns[(Root.Length + 1)..].Split('.')[0] : null;
    }

    private static Type OuterMost(Type type)
    {
        while (type.DeclaringType is { } outer)
        {
            type = outer;
        }

        return type;
    }

    private static IEnumerable<Type> Flatten(Type type)
    {
        if (type.IsGenericParameter)
        {
            yield break;
        }

        if (type.HasElementType)
        {
            foreach (var inner in Flatten(type.GetElementType()!))
            {
                yield return inner;
            }

            yield break;
        }

        yield return type.IsGenericType ? type.GetGenericTypeDefinition() : type;
        foreach (var argument in type.IsGenericType ? type.GetGenericArguments() : [])
        {
            foreach (var inner in Flatten(argument))
            {
                yield return inner;
            }
        }
    }

    private static IEnumerable<Type> ReferencedBy(Type type, List<string> unresolved)
    {
        const BindingFlags declared = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        var types = new List<Type>();
        types.AddRange(type.GetInterfaces());
        if (type.BaseType is { } baseType)
        {
            types.Add(baseType);
        }

        types.AddRange(type.GetFields(declared).Select(f => f.FieldType));
        types.AddRange(type.GetProperties(declared).Select(p => p.PropertyType));
        foreach (var method in type.GetMethods(declared).Cast<MethodBase>().Concat(type.GetConstructors(declared)))
        {
            if (method is MethodInfo info)
            {
                types.Add(info.ReturnType);
            }

            types.AddRange(method.GetParameters().Select(p => p.ParameterType));
            if (method.GetMethodBody() is { } body)
            {
                types.AddRange(body.LocalVariables.Select(l => l.LocalType));
                types.AddRange(InBody(method, body.GetILAsByteArray()!, unresolved));
            }
        }

        return types;
    }

    /// <summary>The types, and the declaring types of the methods and fields, that a method's IL names.</summary>
    private static List<Type> InBody(MethodBase method, byte[] il, List<string> unresolved)
    {
        var types = new List<Type>();
        var typeArguments = method.DeclaringType is { IsGenericType: true } generic ? generic.GetGenericArguments() : null;
        var methodArguments = method.IsGenericMethod ? method.GetGenericArguments() : null;
        for (var at = 0; at < il.Length;)
        {
            var opCode = il[at] == 0xFE ? OpCodesByValue[(short)(0xFE00 | il[at + 1])] : OpCodesByValue[il[at]];
            at += opCode.Size;
            switch (opCode.OperandType)
            {
                case OperandType.InlineNone:
                    break;
                case OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar:
                    at += 1;
                    break;
                case OperandType.InlineVar:
                    at += 2;
                    break;
                case OperandType.InlineI8 or OperandType.InlineR:
                    at += 8;
                    break;
                case OperandType.InlineSwitch:
                    at += 4 + (4 * BitConverter.ToInt32(il, at));
                    break;
                case OperandType.InlineType or OperandType.InlineMethod or OperandType.InlineField or OperandType.InlineTok:
                    var token = BitConverter.ToInt32(il, at);
                    at += 4;
                    try
                    {
                        var member = method.Module.ResolveMember(token, typeArguments, methodArguments);
                        if (member is Type named)
                        {
                            types.Add(named);
                        }
                        else if (member?.DeclaringType is { } declaring)
                        {
                            types.Add(declaring);
                            types.AddRange(member is MethodInfo { IsGenericMethod: true } called ? called.GetGenericArguments() : []);
                        }
                    }
                    catch (ArgumentException error)
                    {
                        unresolved.Add($"{method.DeclaringType}.{method.Name}: token {token:x8} ({error.Message})");
                    }

                    break;
                default:
                    at += 4;
                    break;
            }
        }

        return types;
    }

    [GeneratedRegex(@"`([A-Za-z]+(?: → [A-Za-z]+)+)`")]
    private static partial Regex DependencyLine();
}

using Microsoft.Extensions.Configuration;

namespace Gateway.Configuration;

/// <summary>
/// Binds the <c>Gateway</c> configuration section to <see cref="GatewayOptions"/>, fills in the embedded
/// defaults, applies <c>GATEWAY_DATA_DIR</c>, and validates. Binding errors are turned into the same
/// one-line "key: problem; fix" form as validation errors.
/// </summary>
public static class GatewayOptionsLoader
{
    public const string DataDirEnvironmentVariable = "GATEWAY_DATA_DIR";

    public static GatewayOptions Load(IConfiguration configuration)
    {
        var options = new GatewayOptions();
        var section = configuration.GetSection(GatewayOptions.SectionName);
        try
        {
            section.Bind(options, o => o.ErrorOnUnknownConfiguration = true);
        }
        catch (InvalidOperationException ex)
        {
            throw new ConfigurationException(new[] { DescribeBindingError(ex) });
        }

        var dataDirFromEnvironment = Environment.GetEnvironmentVariable(DataDirEnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(dataDirFromEnvironment))
            options.DataDirectory = dataDirFromEnvironment;

        if (options.Listeners.Count == 0)
            options.Listeners = GatewayOptions.DefaultListeners();
        if (options.Domains.Count == 0)
            options.Domains = new List<string> { options.Hostname, "localhost" }
                .Where(GatewayOptionsValidator.IsHostname).Distinct(StringComparer.OrdinalIgnoreCase).ToList();

        options.Hostname = options.Hostname.Trim().TrimEnd('.').ToLowerInvariant();
        options.Domains = options.Domains.Select(d => d.Trim().TrimEnd('.').ToLowerInvariant()).ToList();
        options.DataDirectory = Path.GetFullPath(options.DataDirectory);
        if (string.IsNullOrWhiteSpace(options.Web.PublicUrl) && GatewayOptionsValidator.IsHostname(options.Hostname)
            && GatewayOptionsValidator.TryParseEndpoint(options.Web.Endpoint, out var web))
            options.Web.PublicUrl = $"https://{options.Hostname}:{web.Port}";

        var problems = GatewayOptionsValidator.Validate(options);
        if (problems.Count > 0)
            throw new ConfigurationException(problems);
        return options;
    }

    static string DescribeBindingError(InvalidOperationException ex)
    {
        // The binder says e.g. "Failed to convert configuration value at 'Gateway:Limits:MaxRecipients' to type 'System.Int32'."
        // or "'Foo' was not found on type ..." for unknown keys.
        var inner = ex.InnerException?.Message;
        var message = inner is null ? ex.Message : ex.Message + " " + inner;
        var key = ExtractQuoted(message, "' at '") ?? ExtractQuoted(message, "at '");
        if (message.Contains("Failed to convert", StringComparison.Ordinal) && key is not null)
        {
            var type = ExtractQuoted(message, "to type '") ?? "the expected type";
            return $"{key}: the value cannot be read as {FriendlyType(type)}; fix: set it to {ExampleFor(type)}.";
        }
        if (message.Contains("were not found on type", StringComparison.Ordinal) || message.Contains("was not found on type", StringComparison.Ordinal))
            return $"configuration: unknown setting ({message.Trim()}); fix: remove it or correct its spelling (see config/gateway.json).";
        return $"configuration: {message}; fix: correct the value (see config/gateway.json).";
    }

    static string? ExtractQuoted(string text, string prefix)
    {
        var start = text.IndexOf(prefix, StringComparison.Ordinal);
        if (start < 0) return null;
        start += prefix.Length;
        var end = text.IndexOf('\'', start);
        return end > start ? text[start..end] : null;
    }

    static string FriendlyType(string type) => type switch
    {
        "System.Int32" or "System.Int64" => "a whole number",
        "System.Boolean" => "true or false",
        _ when type.StartsWith("Gateway.Configuration.", StringComparison.Ordinal) => "one of " + string.Join(", ", EnumNames(type)),
        _ when type.Contains("Nullable", StringComparison.Ordinal) && type.Contains("Gateway.Configuration.", StringComparison.Ordinal) => "one of the allowed names",
        _ => type,
    };

    static string ExampleFor(string type) => type switch
    {
        "System.Int32" or "System.Int64" => "a whole number such as 100",
        "System.Boolean" => "true or false",
        _ when type.StartsWith("Gateway.Configuration.", StringComparison.Ordinal) => "one of " + string.Join(", ", EnumNames(type)),
        _ => "a valid value",
    };

    static IEnumerable<string> EnumNames(string typeName)
    {
        var type = typeof(GatewayOptions).Assembly.GetType(typeName);
        return type is { IsEnum: true } ? Enum.GetNames(type) : new[] { "an allowed value" };
    }
}

using Microsoft.Extensions.Configuration;

namespace Gateway.Hosting;

/// <summary>
/// Where configuration comes from, lowest priority first: the embedded defaults (in the options classes), a JSON
/// file (<c>--config</c>, else <c>GATEWAY_CONFIG</c>, else <c>./gateway.json</c> if present), then environment
/// variables such as <c>Gateway__Hostname</c>.
/// </summary>
public static class ConfigurationSources
{
    public const string ConfigEnvironmentVariable = "GATEWAY_CONFIG";

    public static (IConfiguration Configuration, string? File) Load(string? explicitPath)
    {
        var path = explicitPath ?? Environment.GetEnvironmentVariable(ConfigEnvironmentVariable);
        if (path is null && File.Exists("gateway.json")) path = "gateway.json";
        var builder = new ConfigurationBuilder();
        if (path is not null)
        {
            var full = Path.GetFullPath(path);
            if (!File.Exists(full))
                throw new Configuration.ConfigurationException(new[] { $"--config: file '{full}' does not exist; fix: give the path of a gateway.json, or omit --config to run on the embedded defaults." });
            builder.AddJsonFile(full, optional: false, reloadOnChange: false);
            path = full;
        }
        builder.AddEnvironmentVariables();
        try
        {
            return (builder.Build(), path);
        }
        catch (Exception ex) when (ex is InvalidDataException or FormatException or System.Text.Json.JsonException)
        {
            var innermost = ex;
            while (innermost.InnerException is not null) innermost = innermost.InnerException;
            throw new Configuration.ConfigurationException(new[] { $"{path}: not valid JSON ({innermost.Message}); fix: correct the syntax (config/gateway.json is a commented example)." });
        }
    }
}

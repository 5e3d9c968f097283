namespace Gateway.Configuration;

/// <summary>
/// A configuration problem found at start-up. Each entry names the configuration key and the fix,
/// and is printed as one line before the process stops.
/// </summary>
public sealed class ConfigurationException(IReadOnlyList<string> problems)
    : Exception(string.Join(Environment.NewLine, problems))
{
    public IReadOnlyList<string> Problems { get; } = problems;
}

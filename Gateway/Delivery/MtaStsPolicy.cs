namespace Gateway.Delivery;

public enum MtaStsMode { None, Testing, Enforce }

/// <summary>
/// A recipient domain's MTA-STS policy (RFC 8461 3.2): the mode, the MX host patterns mail may go to, how long it may
/// be cached, and the id of the TXT record that announced it. Parsed strictly: a policy that does not parse is no policy.
/// </summary>
public sealed record MtaStsPolicy(MtaStsMode Mode, IReadOnlyList<string> Mx, TimeSpan MaxAge, string Id, DateTimeOffset FetchedUtc)
{
    /// <summary>RFC 8461 3.2: max_age is at most 31557600 seconds (a year).</summary>
    public static readonly TimeSpan LongestMaxAge = TimeSpan.FromSeconds(31557600);

    public bool IsFresh(DateTimeOffset now) => now < FetchedUtc + MaxAge;

    /// <summary>Parses the policy body (<c>key: value</c> lines, CRLF or LF); null when it is not a valid STSv1 policy.</summary>
    public static MtaStsPolicy? Parse(string text, string id, DateTimeOffset fetchedUtc)
    {
        string? version = null, mode = null, maxAge = null;
        var mx = new List<string>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.Length == 0) continue;
            var colon = line.IndexOf(':');
            if (colon <= 0) return null;
            var key = line[..colon].Trim();
            var value = line[(colon + 1)..].Trim();
            switch (key)
            {
                case "version": version ??= value; break;
                case "mode": mode ??= value; break;
                case "max_age": maxAge ??= value; break;
                case "mx": mx.Add(value.ToLowerInvariant()); break;
                // Other keys are ignored (extensions).
            }
        }
        if (version != "STSv1") return null;
        var parsedMode = mode switch { "enforce" => MtaStsMode.Enforce, "testing" => MtaStsMode.Testing, "none" => MtaStsMode.None, _ => (MtaStsMode?)null };
        if (parsedMode is null) return null;
        if (maxAge is null || maxAge.Length > 10 || !long.TryParse(maxAge, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var seconds))
            return null;
        if (parsedMode != MtaStsMode.None && mx.Count == 0) return null;
        var age = TimeSpan.FromSeconds(Math.Min(seconds, (long)LongestMaxAge.TotalSeconds));
        return new MtaStsPolicy(parsedMode.Value, mx, age, id, fetchedUtc);
    }

    /// <summary>Whether an MX host name matches one of the policy's patterns: the name itself, or <c>*.</c> standing for
    /// exactly one leftmost label (RFC 8461 4.1).</summary>
    public bool Allows(string host)
    {
        host = host.TrimEnd('.').ToLowerInvariant();
        foreach (var pattern in Mx)
        {
            if (pattern.StartsWith("*.", StringComparison.Ordinal))
            {
                var dot = host.IndexOf('.');
                if (dot > 0 && host[(dot + 1)..] == pattern[2..]) return true;
            }
            else if (host == pattern) return true;
        }
        return false;
    }

    /// <summary>The id of an MTA-STS TXT record (<c>v=STSv1; id=...;</c>, RFC 8461 3.1), or null when it is not one.</summary>
    public static string? IdOfRecord(string record)
    {
        var fields = record.Split(';').Select(f => f.Trim()).Where(f => f.Length > 0).ToList();
        if (fields.Count == 0 || fields[0] != "v=STSv1") return null;
        var id = fields.Skip(1).Where(f => f.StartsWith("id=", StringComparison.Ordinal)).Select(f => f[3..]).FirstOrDefault();
        return id is { Length: > 0 and <= 32 } && id.All(char.IsAsciiLetterOrDigit) ? id : null;
    }
}

namespace Gateway.Smtp;

/// <summary>
/// Parses the argument of MAIL FROM / RCPT TO (RFC 5321 4.1.2): <c>&lt;path&gt; [SP esmtp-param *(SP esmtp-param)]</c>.
/// A source route (<c>&lt;@a,@b:user@c&gt;</c>) is accepted and ignored, as 4.1.1.3 asks.
/// </summary>
public static class SmtpPathParser
{
    public readonly record struct PathAndParameters(string Path, IReadOnlyList<KeyValuePair<string, string?>> Parameters);

    /// <summary>Splits "FROM:&lt;a@b&gt; SIZE=10" after the keyword. Returns false with a reason on a syntax error.</summary>
    public static bool TryParse(string argument, string keyword, out PathAndParameters result, out string error)
    {
        result = default;
        error = "";
        var text = argument.TrimStart();
        if (!text.StartsWith(keyword, StringComparison.OrdinalIgnoreCase))
        {
            error = $"expected {keyword.ToUpperInvariant()}<address>";
            return false;
        }
        text = text[keyword.Length..].TrimStart(); // tolerate "MAIL FROM: <a@b>"
        if (!text.StartsWith('<'))
        {
            error = "the address must be enclosed in <>";
            return false;
        }
        var close = FindClosingBracket(text);
        if (close < 0)
        {
            error = "missing '>' after the address";
            return false;
        }
        var path = text[1..close];
        var colon = path.StartsWith('@') ? path.IndexOf(':') : -1;
        if (path.StartsWith('@'))
        {
            if (colon < 0) { error = "malformed source route"; return false; }
            path = path[(colon + 1)..];
        }
        var rest = text[(close + 1)..];
        if (rest.Length > 0 && rest[0] != ' ')
        {
            error = "a space must separate the address from its parameters";
            return false;
        }
        var parameters = new List<KeyValuePair<string, string?>>();
        foreach (var token in rest.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = token.IndexOf('=');
            var name = eq < 0 ? token : token[..eq];
            var value = eq < 0 ? null : token[(eq + 1)..];
            if (name.Length == 0 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'))
            {
                error = $"malformed parameter '{token}'";
                return false;
            }
            parameters.Add(new(name.ToUpperInvariant(), value));
        }
        result = new PathAndParameters(path, parameters);
        return true;
    }

    static int FindClosingBracket(string text)
    {
        var inQuote = false;
        for (var i = 1; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '\\' && inQuote) { i++; continue; }
            if (c == '"') inQuote = !inQuote;
            else if (c == '>' && !inQuote) return i;
        }
        return -1;
    }
}

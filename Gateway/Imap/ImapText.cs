using System.Text;

namespace Gateway.Imap;

/// <summary>How strings go on the wire in responses (RFC 3501 4.3, 9): quoted when that is possible, else a literal.</summary>
public static class ImapText
{
    /// <summary>A quoted string, or a literal <c>{n}CRLF...</c> when the text holds CR, LF, NUL or 8-bit characters.</summary>
    public static string String(string text)
    {
        var needsLiteral = false;
        foreach (var c in text)
            if (c is '\r' or '\n' or '\0' || c > 127) { needsLiteral = true; break; }
        if (needsLiteral) return "{" + Encoding.UTF8.GetByteCount(text) + "}\r\n" + text;
        var sb = new StringBuilder(text.Length + 2).Append('"');
        foreach (var c in text)
        {
            if (c is '"' or '\\') sb.Append('\\');
            sb.Append(c);
        }
        return sb.Append('"').ToString();
    }

    public static string NString(string? text) => text is null ? "NIL" : String(text);

    /// <summary>A mailbox name as sent to the client: modified UTF-7 (RFC 3501 5.1.3), quoted.</summary>
    public static string Mailbox(string name) => String(ModifiedUtf7.Encode(name));

    public static string FlagList(IEnumerable<string> flags) => "(" + string.Join(' ', flags) + ")";

    /// <summary>RFC 3501 date-time: "dd-Mon-yyyy hh:mm:ss +zzzz".</summary>
    public static string DateTime(DateTime utc) =>
        "\"" + utc.ToString("dd-MMM-yyyy HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture) + " +0000\"";

    /// <summary>A set of numbers in the compact form (1:3,5) of RFC 3501's sequence-set.</summary>
    public static string Set(IEnumerable<uint> numbers)
    {
        var sb = new StringBuilder();
        uint? start = null, previous = null;
        foreach (var n in numbers)
        {
            if (previous is { } p && n == p + 1) { previous = n; continue; }
            Flush();
            start = previous = n;
        }
        Flush();
        return sb.ToString();

        void Flush()
        {
            if (start is null) return;
            if (sb.Length > 0) sb.Append(',');
            sb.Append(start.Value);
            if (previous != start) sb.Append(':').Append(previous!.Value);
        }
    }
}

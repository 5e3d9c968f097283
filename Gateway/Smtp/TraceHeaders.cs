using System.Globalization;
using System.Text;

namespace Gateway.Smtp;

/// <summary>Builds the header lines a receiving server puts in front of a message (RFC 5321 4.4, RFC 6409 8).</summary>
public static class TraceHeaders
{
    /// <summary>
    /// <c>Received: from HELO ([ip]) by HOST (Gateway) with PROTOCOL id ID [for &lt;rcpt&gt;]; DATE</c>, folded at 78 columns.
    /// "for" is given only for a single recipient, so that a multi-recipient envelope is not disclosed to each.
    /// </summary>
    public static string Received(SmtpSessionInfo session, string hostname, string queueId, IReadOnlyList<SmtpRecipient> recipients, bool smtpUtf8, DateTimeOffset now)
    {
        var parts = new List<string>
        {
            "from " + Sanitize(session.Helo ?? "unknown") + " ([" + session.RemoteAddress + "])",
            "by " + hostname + " (Gateway)",
            "with " + session.ProtocolKeyword(smtpUtf8),
        };
        if (session.TlsDescription is not null) parts.Add("(" + Sanitize(session.TlsDescription) + ")");
        parts.Add("id " + queueId);
        if (recipients.Count == 1) parts.Add("for <" + recipients[0].Mailbox.Address + ">");
        var date = FormatDate(now);
        return Fold("Received: ", parts, "; " + date);
    }

    public static string MessageId(string queueId, string hostname) => $"Message-ID: <{queueId}@{hostname}>\r\n";

    public static string Date(DateTimeOffset now) => "Date: " + FormatDate(now) + "\r\n";

    /// <summary>RFC 5322 3.3 date-time.</summary>
    public static string FormatDate(DateTimeOffset t)
    {
        var offset = t.Offset;
        var sign = offset < TimeSpan.Zero ? "-" : "+";
        offset = offset.Duration();
        return t.ToString("ddd, d MMM yyyy HH:mm:ss ", CultureInfo.InvariantCulture) + sign + offset.Hours.ToString("00") + offset.Minutes.ToString("00");
    }

    static string Fold(string name, List<string> parts, string tail)
    {
        var sb = new StringBuilder(name);
        var lineLength = name.Length;
        for (var i = 0; i < parts.Count; i++)
        {
            var part = parts[i] + (i == parts.Count - 1 ? tail.TrimEnd() : "");
            if (i > 0)
            {
                if (lineLength + 1 + part.Length > 78) { sb.Append("\r\n\t"); lineLength = 8; }
                else { sb.Append(' '); lineLength++; }
            }
            sb.Append(part);
            lineLength += part.Length;
        }
        return sb.Append("\r\n").ToString();
    }

    /// <summary>Keeps client-supplied text from breaking the header: no CR, LF, parentheses or non-printables.</summary>
    static string Sanitize(string text)
    {
        var sb = new StringBuilder(Math.Min(text.Length, 255));
        foreach (var c in text.AsSpan(0, Math.Min(text.Length, 255)))
            sb.Append(c is < ' ' or '(' or ')' or '\\' or (char)127 ? '?' : c);
        return sb.ToString();
    }
}

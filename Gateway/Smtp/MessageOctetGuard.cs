namespace Gateway.Smtp;

/// <summary>Why received message data is refused after it has been read to its end.</summary>
public enum DataDefect
{
    None,
    /// <summary>More octets than the SIZE limit (RFC 1870).</summary>
    TooLarge,
    /// <summary>A text line longer than the limit (RFC 5321 4.5.3.1.6).</summary>
    LineTooLong,
    /// <summary>An LF not preceded by CR (RFC 5321 2.3.8).</summary>
    BareLinefeed,
    /// <summary>A CR not followed by LF (RFC 5321 2.3.8).</summary>
    BareCarriageReturn,
    /// <summary>A NUL octet: not text in any mail format (RFC 5322 2.2, RFC 6152 2).</summary>
    Nul,
}

/// <summary>
/// Watches message octets as they stream by for the line-ending tricks that SMTP smuggling is made of: a CR or an LF on
/// its own, and NUL. A next hop that takes a bare CR or LF for a line end would read <c>&lt;CR&gt;.&lt;CR&gt;</c> (or
/// the LF forms) inside our message as its end, and whatever follows as commands of its own; RFC 5321 2.3.8 lets
/// neither appear in SMTP text, so such a message is refused rather than relayed byte for byte. The state runs across
/// calls, so a CR at the end of one BDAT chunk and an LF at the start of the next form a proper line end.
/// </summary>
public sealed class MessageOctetGuard
{
    bool _pendingCr;

    /// <summary>The first defect seen, or <see cref="DataDefect.None"/>.</summary>
    public DataDefect Defect { get; private set; }

    public void Feed(ReadOnlySpan<byte> octets)
    {
        if (Defect != DataDefect.None) return;
        var i = 0;
        if (_pendingCr && octets.Length > 0)
        {
            if (octets[0] != (byte)'\n') { Defect = DataDefect.BareCarriageReturn; return; }
            _pendingCr = false;
            i = 1;
        }
        while (i < octets.Length)
        {
            var rest = octets[i..];
            var at = rest.IndexOfAny((byte)'\r', (byte)'\n', (byte)0);
            if (at < 0) return;
            switch (rest[at])
            {
                case 0:
                    Defect = DataDefect.Nul;
                    return;
                case (byte)'\n':
                    Defect = DataDefect.BareLinefeed;
                    return;
                default: // CR: fine only when the very next octet is LF, which may come with the next call
                    if (at + 1 == rest.Length) { _pendingCr = true; return; }
                    if (rest[at + 1] != (byte)'\n') { Defect = DataDefect.BareCarriageReturn; return; }
                    i += at + 2;
                    break;
            }
        }
    }

    /// <summary>The end of the message: a CR still waiting for its LF is a bare CR.</summary>
    public DataDefect Finish()
    {
        if (Defect == DataDefect.None && _pendingCr) Defect = DataDefect.BareCarriageReturn;
        return Defect;
    }

    /// <summary>The reply for a refused message (RFC 3463: 5.3.4 too big, 5.5.2 syntax, 5.6.0 content).</summary>
    public static SmtpReply Refusal(DataDefect defect, long maxSize, int maxLineLength) => defect switch
    {
        DataDefect.TooLarge => new SmtpReply(552, "5.3.4", $"Message exceeds fixed maximum message size of {maxSize} octets"),
        DataDefect.LineTooLong => new SmtpReply(500, "5.5.2", $"Line too long in message data (limit {maxLineLength} octets including CRLF)"),
        DataDefect.BareLinefeed => new SmtpReply(550, "5.6.0", "Message rejected: bare <LF> in message data; lines must end with <CR><LF>"),
        DataDefect.BareCarriageReturn => new SmtpReply(550, "5.6.0", "Message rejected: bare <CR> in message data; lines must end with <CR><LF>, and a <CR> may appear nowhere else"),
        DataDefect.Nul => new SmtpReply(550, "5.6.0", "Message rejected: NUL octet in message data; mail may not contain NUL"),
        _ => throw new ArgumentOutOfRangeException(nameof(defect)),
    };
}

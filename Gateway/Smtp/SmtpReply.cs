using System.Text;

namespace Gateway.Smtp;

/// <summary>
/// One SMTP reply (RFC 5321 4.2): a three-digit code, an optional enhanced status code (RFC 3463 / RFC 2034)
/// and one or more text lines. Multi-line replies use "code-text" on every line but the last.
/// </summary>
public sealed record SmtpReply(int Code, string? EnhancedCode, IReadOnlyList<string> Lines)
{
    public SmtpReply(int code, string? enhancedCode, string text) : this(code, enhancedCode, new[] { text }) { }

    public bool IsPositive => Code is >= 200 and < 400;
    public bool IsTransientFailure => Code is >= 400 and < 500;
    public bool IsPermanentFailure => Code >= 500;

    /// <summary>Serialises the reply, each line ending in CRLF.</summary>
    public string Format(bool enhancedStatusCodes = true)
    {
        var sb = new StringBuilder();
        for (var i = 0; i < Lines.Count; i++)
        {
            sb.Append(Code).Append(i == Lines.Count - 1 ? ' ' : '-');
            if (enhancedStatusCodes && EnhancedCode is not null) sb.Append(EnhancedCode).Append(' ');
            sb.Append(Lines[i]).Append("\r\n");
        }
        return sb.ToString();
    }

    public override string ToString() => Format().TrimEnd();

    // Replies used in more than one place. Codes follow RFC 5321 4.2.2/4.3.2 and RFC 3463.
    public static SmtpReply Ok(string text = "Ok") => new(250, "2.0.0", text);
    public static readonly SmtpReply BadSequence = new(503, "5.5.1", "Bad sequence of commands");
    public static readonly SmtpReply SendHeloFirst = new(503, "5.5.1", "Bad sequence of commands: send EHLO or HELO first");
    public static readonly SmtpReply Unrecognized = new(500, "5.5.1", "Command unrecognized");
    public static readonly SmtpReply LineTooLong = new(500, "5.5.2", "Line too long");
    public static readonly SmtpReply BareLinefeed = new(500, "5.5.2", "Syntax error: bare <LF> received; lines must end with <CR><LF>");
    public static readonly SmtpReply AuthRequired = new(530, "5.7.0", "Authentication required");
    public static readonly SmtpReply StartTlsFirst = new(530, "5.7.0", "Must issue a STARTTLS command first");
    public static SmtpReply SyntaxError(string what) => new(501, "5.5.4", "Syntax error: " + what);
}

using System.Net;
using Gateway.Configuration;

namespace Gateway.Smtp;

/// <summary>What a session knows about its client; passed to policy and store so they never touch sockets.</summary>
public sealed class SmtpSessionInfo
{
    public required string SessionId { get; init; }
    public required string ListenerName { get; init; }
    public required ListenerRole Role { get; init; }
    public required IPEndPoint? RemoteEndPoint { get; init; }
    public string? Helo { get; set; }
    public bool Extended { get; set; }
    public bool IsTls { get; set; }
    public string? TlsDescription { get; set; }
    public string? AuthenticatedUser { get; set; }

    public IPAddress RemoteAddress => RemoteEndPoint?.Address ?? IPAddress.None;

    /// <summary>The "with" protocol keyword for Received: (RFC 3848, RFC 6531).</summary>
    public string ProtocolKeyword(bool smtpUtf8)
    {
        if (!Extended) return "SMTP";
        var p = smtpUtf8 ? "UTF8SMTP" : "ESMTP";
        if (IsTls) p += "S";
        if (AuthenticatedUser is not null) p += "A";
        return p;
    }
}

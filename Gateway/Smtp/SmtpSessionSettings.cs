using System.Net.Security;
using Gateway.Configuration;

namespace Gateway.Smtp;

/// <summary>What one listener's sessions are configured with.</summary>
public sealed class SmtpSessionSettings
{
    public required string Hostname { get; init; }
    /// <summary>The domain of the mailbox that "RCPT TO:&lt;Postmaster&gt;" (no domain, RFC 5321 4.5.1) means.</summary>
    public required string PostmasterDomain { get; init; }
    public required ListenerOptions Listener { get; init; }
    public required SmtpLimitsOptions Limits { get; init; }
    /// <summary>Produces the server TLS options for each handshake (so a reloaded certificate is picked up).</summary>
    public required Func<SslServerAuthenticationOptions> TlsOptions { get; init; }
}

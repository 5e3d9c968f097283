using System.Net.Security;
using Gateway.Configuration;

namespace Gateway.Smtp;

/// <summary>What one listener's sessions are configured with.</summary>
public sealed class SmtpSessionSettings
{
    public required string Hostname { get; init; }
    public required ListenerOptions Listener { get; init; }
    public required SmtpLimitsOptions Limits { get; init; }
    /// <summary>Produces the server TLS options for each handshake (so a reloaded certificate is picked up).</summary>
    public required Func<SslServerAuthenticationOptions> TlsOptions { get; init; }
}

using System.Net;
using System.Security.Cryptography;
using Gateway.Configuration;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gateway.Smtp;

/// <summary>
/// Kestrel entry point for every SMTP listener: applies the connection limits, opens a log scope with a
/// session id, and runs an <see cref="SmtpSession"/> over the connection's pipes.
/// The listener a connection arrived on is put in <see cref="ConnectionContext.Items"/> by <see cref="ListenerKey"/>.
/// </summary>
public sealed class SmtpConnectionHandler(
    SmtpListenerRegistry listeners,
    ISmtpPolicy policy,
    ISmtpAuthenticator authenticator,
    IMessageSpoolFactory spools,
    ConnectionLimiter limiter,
    AuthThrottle authThrottle,
    IHostApplicationLifetime lifetime,
    ILogger<SmtpConnectionHandler> logger) : ConnectionHandler
{
    public const string ListenerKey = "gateway.listener";

    public override async Task OnConnectedAsync(ConnectionContext connection)
    {
        var settings = listeners.Get((string)connection.Items[ListenerKey]!);
        var remote = connection.RemoteEndPoint as IPEndPoint;
        var address = remote?.Address ?? IPAddress.None;
        var sessionId = NewSessionId();
        using var scope = logger.BeginScope(new SessionLogScope(sessionId, settings.Listener.Name, remote?.ToString()));

        if (!limiter.TryAcquire(address, out var reason))
        {
            logger.LogWarning("Refused connection: {Reason}", reason);
            if (settings.Listener.Tls != TlsMode.Implicit)
            {
                var reply = new SmtpReply(421, "4.7.0", $"{settings.Hostname} {reason}, try again later").Format();
                await connection.Transport.Output.WriteAsync(System.Text.Encoding.ASCII.GetBytes(reply));
            }
            await connection.Transport.Output.CompleteAsync();
            return;
        }

        logger.LogInformation("Session opened");
        var started = DateTime.UtcNow;
        try
        {
            await using var io = new SmtpStreamIo(connection.Transport, settings.Limits.MaxLineLength);
            var info = new SmtpSessionInfo
            {
                SessionId = sessionId,
                ListenerName = settings.Listener.Name,
                Role = settings.Listener.Role,
                RemoteEndPoint = remote,
            };
            var session = new SmtpSession(settings, info, io, policy, authenticator, spools, authThrottle, logger,
                lifetime.ApplicationStopping, connection.ConnectionClosed);
            await session.RunAsync();
        }
        catch (Exception ex)
        {
            logger.LogError(ex, "Session failed");
        }
        finally
        {
            limiter.Release(address);
            logger.LogInformation("Session closed after {Seconds:F1}s", (DateTime.UtcNow - started).TotalSeconds);
        }
    }

    static string NewSessionId() => Convert.ToHexString(RandomNumberGenerator.GetBytes(6)).ToLowerInvariant();
}

/// <summary>The settings of each configured SMTP listener, by name.</summary>
public sealed class SmtpListenerRegistry
{
    readonly Dictionary<string, SmtpSessionSettings> _byName = new(StringComparer.OrdinalIgnoreCase);

    public void Add(SmtpSessionSettings settings) => _byName[settings.Listener.Name] = settings;
    public SmtpSessionSettings Get(string name) => _byName[name];
    public IEnumerable<SmtpSessionSettings> All => _byName.Values;
}
